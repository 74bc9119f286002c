/**
 * The SQLite file's schema, created and migrated when the store opens: each migration runs
 * once, in a transaction, and `PRAGMA user_version` says how many ran. WAL journaling, so a
 * committed write survives the process being killed (SIGKILL, OOM), and readers never wait
 * for the writer.
 */
import type { Database } from "better-sqlite3";

/** The records' columns since migration 1 (3 rebuilds the table with them): never edit in place, migrate. */
const RECORDS_COLUMNS = `
     key TEXT PRIMARY KEY,
     state TEXT NOT NULL CHECK (state IN ('in-flight', 'completed', 'indeterminate')),
     token TEXT,
     fingerprint TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     completed_at INTEGER,
     lease_until INTEGER,
     expires_at INTEGER NOT NULL,
     attempts INTEGER,
     reason TEXT,
     status INTEGER,
     headers TEXT,
     body BLOB`;

const MIGRATIONS: readonly string[] = [
  // 1: the records (rebuilt by 3).
  `CREATE TABLE records (${RECORDS_COLUMNS}) WITHOUT ROWID;
   CREATE INDEX records_by_expiry ON records (expires_at);
   CREATE INDEX records_by_state ON records (state, key);`,
  // 2: the outcome ledger: append-only, one row per settlement (docs/operations.md, "The outcome ledger").
  `CREATE TABLE ledger (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     record TEXT NOT NULL,
     route TEXT NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('completed', 'indeterminate', 'released', 'completed-in-background', 'resolved-by-operator')),
     status INTEGER,
     attempts INTEGER,
     gateway_request_id TEXT,
     fields TEXT,
     started_at INTEGER NOT NULL,
     settled_at INTEGER NOT NULL,
     replica TEXT NOT NULL
   );
   CREATE INDEX ledger_by_time ON ledger (settled_at);
   CREATE INDEX ledger_by_state ON ledger (state, settled_at);
   CREATE INDEX ledger_by_record ON ledger (record);
   CREATE INDEX ledger_by_gateway_request ON ledger (gateway_request_id);`,
  // 3: records as a rowid table: a WITHOUT ROWID table keeps whole rows in its B-tree, and
  //    rows that grow from a small claim to a stored answer (kilobytes) cost it page splits on
  //    every completion (measured: a quarter of a new key's store time).
  `CREATE TABLE records_next (${RECORDS_COLUMNS});
   INSERT INTO records_next SELECT * FROM records;
   DROP TABLE records;
   ALTER TABLE records_next RENAME TO records;
   CREATE INDEX records_by_expiry ON records (expires_at);
   CREATE INDEX records_by_state ON records (state, key);`,
  // 4: one row the store rewrites to prove it can write (health.ts): at open, then every second.
  `CREATE TABLE write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), written_at INTEGER NOT NULL);`,
  // 5: the gateway a ledger row's payment went to (gateways.<name>); null on older rows.
  `ALTER TABLE ledger ADD COLUMN gateway TEXT;`,
  // 6: the webhook inbox: one row per (gateway, event id), stored before the gateway is answered (docs/webhooks.md).
  `CREATE TABLE webhook_events (
     gateway TEXT NOT NULL,
     event_id TEXT NOT NULL,
     endpoint TEXT NOT NULL,
     received_at INTEGER NOT NULL,
     body BLOB NOT NULL,
     headers TEXT NOT NULL,
     state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL,
     lease_owner TEXT,
     lease_until INTEGER,
     delivered_at INTEGER,
     last_error TEXT,
     PRIMARY KEY (gateway, event_id)
   );
   CREATE INDEX webhook_events_due ON webhook_events (state, next_attempt_at);`,
  // 7: the ledger learns what a gateway's event said of a payment (docs/webhooks.md, "Settling the
  //    ledger"): a new state (a CHECK is changed by rebuilding the table), the payment's link
  //    (its upstream key or its reference), the event's id and the outcome it reported.
  `CREATE TABLE ledger_next (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     record TEXT NOT NULL,
     route TEXT NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('completed', 'indeterminate', 'released', 'completed-in-background', 'resolved-by-operator', 'settled-by-event')),
     status INTEGER,
     attempts INTEGER,
     gateway_request_id TEXT,
     fields TEXT,
     started_at INTEGER NOT NULL,
     settled_at INTEGER NOT NULL,
     replica TEXT NOT NULL,
     gateway TEXT,
     link TEXT,
     event_id TEXT,
     outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'refunded'))
   );
   INSERT INTO ledger_next (id, record, route, method, path, state, status, attempts, gateway_request_id, fields, started_at, settled_at, replica, gateway)
     SELECT id, record, route, method, path, state, status, attempts, gateway_request_id, fields, started_at, settled_at, replica, gateway FROM ledger;
   DROP TABLE ledger;
   ALTER TABLE ledger_next RENAME TO ledger;
   CREATE INDEX ledger_by_time ON ledger (settled_at);
   CREATE INDEX ledger_by_state ON ledger (state, settled_at);
   CREATE INDEX ledger_by_record ON ledger (record);
   CREATE INDEX ledger_by_gateway_request ON ledger (gateway_request_id);
   CREATE INDEX ledger_by_link ON ledger (link);`,
  // 8: an event that came before its payment's ledger row keeps what it says, and is matched
  //    again until match_until (docs/webhooks.md, "Settling the ledger").
  `ALTER TABLE webhook_events ADD COLUMN settles TEXT;
   ALTER TABLE webhook_events ADD COLUMN match_until INTEGER;
   CREATE INDEX webhook_events_unmatched ON webhook_events (match_until) WHERE match_until IS NOT NULL;
   CREATE INDEX ledger_by_event ON ledger (event_id) WHERE event_id IS NOT NULL;`,
  // 9: the indexes events settle payments by are kept only where events settle: two B-trees
  //    fewer to write per payment elsewhere (bench/TAIL.md, "pages per new key"); see
  //    settlementIndexes.
  `DROP INDEX ledger_by_gateway_request;
   DROP INDEX ledger_by_link;`,
  // 10: enough to act on (docs/operations.md, "Unknown outcomes"): a record keeps what its request
  //     was (RecordAbout, JSON); a ledger row the client's key, why an outcome is unknown, and an
  //     operator's decision, reason and name. No CHECK: SQLite would test it against every
  //     row of a large ledger at open (the admin API validates `decision`).
  `ALTER TABLE records ADD COLUMN about TEXT;
   ALTER TABLE ledger ADD COLUMN idempotency_key TEXT;
   ALTER TABLE ledger ADD COLUMN reason TEXT;
   ALTER TABLE ledger ADD COLUMN decision TEXT;
   ALTER TABLE ledger ADD COLUMN operator TEXT;`,
];

/**
 * The ledger's indexes by link and by the gateway's request id, which webhook events settle
 * payments by (inbox.ts): created when webhook endpoints are configured (once, over the rows
 * already there), dropped when they are not, so a payment without them writes two B-trees
 * fewer.
 */
export function settlementIndexes(db: Database, wanted: boolean): void {
  if (wanted)
    db.exec(`CREATE INDEX IF NOT EXISTS ledger_by_link ON ledger (link);
      CREATE INDEX IF NOT EXISTS ledger_by_gateway_request ON ledger (gateway_request_id);`);
  else db.exec("DROP INDEX IF EXISTS ledger_by_link; DROP INDEX IF EXISTS ledger_by_gateway_request;");
}

/** The write that proves the file takes writes; its one parameter is now, epoch ms. */
export const PROBE = "INSERT INTO write_probe (id, written_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at";

/** Journaling and the durability of a commit: `normal` survives a crash of payguard, `full` also a power cut. */
export type Synchronous = "normal" | "full";

export function prepare(db: Database, synchronous: Synchronous, settles = false): void {
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
  // Another process holding the write lock (a second payguard on the same file): wait a bit.
  db.pragma("busy_timeout = 5000");
  // Checkpoints are the background thread's (background.ts), on a thread of their own.
  db.pragma("wal_autocheckpoint = 0");
  applyMigrations(db, MIGRATIONS);
  settlementIndexes(db, settles);
}

/**
 * Runs the migrations past the file's user_version, each in a transaction of its own with its
 * version bump. The version is read again inside the write lock: a second process opening the
 * same file at once skips what the first has applied meanwhile.
 */
export function applyMigrations(db: Database, migrations: readonly string[]): void {
  const applied = () => db.pragma("user_version", { simple: true }) as number;
  for (let version = applied(); version < migrations.length; version++) {
    db.transaction(() => {
      if (applied() > version) return;
      db.exec(migrations[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
