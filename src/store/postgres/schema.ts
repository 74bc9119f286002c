/**
 * payguard's tables in PostgreSQL, created and migrated by payguard itself when it connects:
 * under a session advisory lock, so replicas starting together migrate once; each migration
 * in its own transaction, recorded in `schema_migrations`. Tables are logged (never
 * UNLOGGED: those are emptied after a crash).
 */
import type pg from "pg";

/** The lock's key: any replica of any payguard migrating this database waits for the others. */
const MIGRATION_LOCK = 0x7061_7967; // "payg"

const migrations = (schema: string): readonly string[] => [
  // 1: the records, one row per scoped key.
  `CREATE TABLE ${schema}.records (
     key text PRIMARY KEY,
     state text NOT NULL CHECK (state IN ('in-flight', 'completed', 'indeterminate')),
     token text,
     fingerprint text NOT NULL,
     created_at bigint NOT NULL,
     completed_at bigint,
     lease_until bigint,
     expires_at bigint NOT NULL,
     attempts integer,
     reason text,
     status integer,
     headers text,
     body bytea
   );
   CREATE INDEX records_by_expiry ON ${schema}.records (expires_at);
   CREATE INDEX records_by_state ON ${schema}.records (state, key);`,
  // 2: the outcome ledger: append-only, one row per settlement (docs/operations.md, "The outcome ledger").
  `CREATE TABLE ${schema}.ledger (
     id bigserial PRIMARY KEY,
     record text NOT NULL,
     route text NOT NULL,
     method text NOT NULL,
     path text NOT NULL,
     state text NOT NULL CHECK (state IN ('completed', 'indeterminate', 'released', 'completed-in-background', 'resolved-by-operator')),
     status integer,
     attempts integer,
     gateway_request_id text,
     fields jsonb,
     started_at bigint NOT NULL,
     settled_at bigint NOT NULL,
     replica text NOT NULL
   );
   CREATE INDEX ledger_by_time ON ${schema}.ledger (settled_at);
   CREATE INDEX ledger_by_state ON ${schema}.ledger (state, settled_at);
   CREATE INDEX ledger_by_record ON ${schema}.ledger (record);
   CREATE INDEX ledger_by_gateway_request ON ${schema}.ledger (gateway_request_id);`,
  // 3: a record someone waits for: only its completion or release NOTIFYs (a NOTIFY-ing
  //    commit takes a global lock, so notifying every completion serialises the commits).
  `ALTER TABLE ${schema}.records ADD COLUMN watched boolean NOT NULL DEFAULT false;`,
  // 4: the gateway a ledger row's payment went to (gateways.<name>); null on older rows.
  `ALTER TABLE ${schema}.ledger ADD COLUMN gateway text;`,
  // 5: the webhook inbox: one row per (gateway, event id), stored before the gateway is answered (docs/webhooks.md).
  `CREATE TABLE ${schema}.webhook_events (
     gateway text NOT NULL,
     event_id text NOT NULL,
     endpoint text NOT NULL,
     received_at bigint NOT NULL,
     body bytea NOT NULL,
     headers text NOT NULL,
     state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
     attempts integer NOT NULL DEFAULT 0,
     next_attempt_at bigint NOT NULL,
     lease_owner text,
     lease_until bigint,
     delivered_at bigint,
     last_error text,
     PRIMARY KEY (gateway, event_id)
   );
   CREATE INDEX webhook_events_due ON ${schema}.webhook_events (state, next_attempt_at);`,
  // 6: the ledger learns what a gateway's event said of a payment (docs/webhooks.md, "Settling the
  //    ledger"): a new state, the payment's link (its upstream key or its reference), the event's id and outcome.
  `ALTER TABLE ${schema}.ledger DROP CONSTRAINT ledger_state_check;
   ALTER TABLE ${schema}.ledger ADD CONSTRAINT ledger_state_check CHECK (state IN ('completed', 'indeterminate', 'released', 'completed-in-background', 'resolved-by-operator', 'settled-by-event'));
   ALTER TABLE ${schema}.ledger ADD COLUMN link text, ADD COLUMN event_id text,
     ADD COLUMN outcome text CHECK (outcome IN ('succeeded', 'failed', 'refunded'));
   CREATE INDEX ledger_by_link ON ${schema}.ledger (link);`,
  // 7: an event that came before its payment's ledger row keeps what it says, and is matched
  //    again until match_until (docs/webhooks.md, "Settling the ledger").
  `ALTER TABLE ${schema}.webhook_events ADD COLUMN settles text, ADD COLUMN match_until bigint;
   CREATE INDEX webhook_events_unmatched ON ${schema}.webhook_events (match_until) WHERE match_until IS NOT NULL;
   CREATE INDEX ledger_by_event ON ${schema}.ledger (event_id) WHERE event_id IS NOT NULL;`,
  // 8: enough to act on (docs/operations.md, "Unknown outcomes"): a record keeps what its request
  //    was (RecordAbout, JSON); a ledger row the client's key, why an outcome is unknown, and an
  //    operator's decision, reason and name.
  //    Nullable columns without a default or a CHECK: metadata only, no scan of a large ledger
  //    under its lock (the admin API validates `decision`).
  `ALTER TABLE ${schema}.records ADD COLUMN about text;
   ALTER TABLE ${schema}.ledger ADD COLUMN idempotency_key text, ADD COLUMN reason text, ADD COLUMN decision text, ADD COLUMN operator text;`,
];

export async function migrate(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>(`SELECT COALESCE(MAX(version), 0) AS version FROM ${schema}.schema_migrations`);
    const all = migrations(schema);
    for (let version = Number(rows[0]?.version ?? 0); version < all.length; version++) {
      await client.query("BEGIN");
      try {
        await client.query(all[version] as string);
        await client.query(`INSERT INTO ${schema}.schema_migrations (version) VALUES ($1)`, [version + 1]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      }
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
  }
}
