/**
 * The system of record: idempotency records in PostgreSQL, shared by every replica.
 *
 * - A claim is one statement: `INSERT … ON CONFLICT … DO UPDATE … WHERE` the record expired or
 *   its lease ran out, judged by the server's clock; no row back means "it exists: read it".
 * - Settle, renew and release are fenced by the owner token (`WHERE token = $t`): a writer
 *   fenced out changes nothing and reads the winner's record.
 * - A write whose outcome is unknown (the connection broke around its commit) is read back:
 *   nothing is assumed.
 * - Every change NOTIFYs its key; waiters re-check on their own too (listen.ts).
 * - Expired records are deleted in bounded batches.
 * Failures of the database become StoreError("store_unavailable"); the shared layer above
 * (shared/) turns them into 503 for new keys. An answer already obtained whose completion did
 * not commit, for that or any other reason, goes to its journal.
 */
import type pg from "pg";
import { decodeCursor, encodeCursor } from "../cursor.js";
import { resolveVerdict } from "../resolve-rule.js";
import { LAST_REQUEST, type LastRequest, LEDGER_COLUMNS, LEDGER_PG_TYPES, type LedgerRow, ledgerEntryOf, ledgerValues, withRequestOf } from "../sql/ledger.js";
import { aboutText, finalValues, RECORD_COLUMNS, type RecordRow, recordOf } from "../sql/rows.js";
import type {
  ClaimRequest,
  ClaimResult,
  CompletedRecord,
  FinalRecord,
  IdempotencyRecord,
  InFlightRecord,
  LedgerEntry,
  RecordAbout,
  RecordEntry,
  RemoteStore,
  ResolveResult,
  StoreStats,
} from "../types.js";
import { Waiters } from "../waiters.js";
import { columns, TurnBatch } from "./batch.js";
import { postgresInbox } from "./inbox.js";
import { listen } from "./listen.js";
import { isValueError, type Nodes, openNodes } from "./nodes.js";
import { migrate } from "./schema.js";

export interface PostgresStoreOptions {
  /** connection URLs; with several, the writable one is used */
  nodes: readonly string[];
  schema: string;
  operationTimeout: number;
  poolSize: number;
  /** how long ledger rows are kept (their own retention, not the records' TTL) */
  ledgerRetentionMs: number;
  /** longest a waiter sleeps between checks when a notification is missed */
  pollFallbackMs?: number;
  onError?: (err: unknown) => void;
}

/** The server's clock in ms: leases and expiry never depend on a replica's clock. */
const NOW = "(floor(extract(epoch from clock_timestamp()) * 1000))::bigint";
const SWEEP_MS = 30_000;
const SWEEP_BATCH = 1_000;
/** How long waiters of one key in this process share its mark; how many marks are kept at most. */
const MARK_REUSE_MS = 1_000;
const MAX_MARKS = 10_000;

type Row = RecordRow & { ttl_left?: string | number };

export async function createPostgresStore(options: PostgresStoreOptions): Promise<RemoteStore> {
  const db = openDatabase(options);
  // Create or migrate the schema now if the database answers; else at the first use.
  await Promise.race([db.ready().catch(() => {}), new Promise((resolve) => setTimeout(resolve, Math.max(1000, 4 * options.operationTimeout)).unref())]);
  const waiters = new Waiters();
  const watches = new Watches(db, waiters);
  const listener = listen({
    url: () => db.nodes.current() ?? options.nodes[0],
    channel: db.channel,
    timeoutMs: options.operationTimeout,
    onKey: (key) => watches.wake(key),
  });
  const sweeper = setInterval(() => {
    void db.query(db.sql.sweep, []).catch(() => {});
    void db.query(db.sql.forget, [options.ledgerRetentionMs]).catch(() => {});
  }, SWEEP_MS);
  sweeper.unref();
  return {
    ...writes(db, turnBatches(db)),
    ...reads(db),
    webhooks: postgresInbox(db.query, (fn) => db.ready().then(() => db.nodes.transaction(fn)), options.schema),
    async waitForChange(key, timeoutMs) {
      // Marked first, so its completion or release NOTIFYs.
      await watches.watch(key);
      // Wake at the latest after the poll fallback: a missed NOTIFY costs a bounded delay.
      await waiters.wait(key, Math.min(timeoutMs, options.pollFallbackMs ?? 1000));
    },
    // The records are the database's; this replica's in-flight share is counted around it (shared/counted.ts).
    stats: (): StoreStats => ({ entries: 0, bytes: 0, inFlight: 0 }),
    healthy: () => db.nodes.healthy(),
    ping: () =>
      db.query(db.sql.ping, []).then(
        () => true,
        () => false,
      ),
    async close() {
      clearInterval(sweeper);
      waiters.wakeAll();
      await listener.close();
      await db.nodes.close();
    },
  };
}

/** The database as the store uses it: its nodes, statements, change channel, and queries that migrate first. */
interface Db {
  nodes: Nodes;
  sql: Statements;
  channel: string;
  ready(): Promise<void>;
  query<R extends pg.QueryResultRow = Row>(text: string, values: unknown[]): Promise<pg.QueryResult<R>>;
  read(key: string): Promise<IdempotencyRecord | undefined>;
}

function openDatabase(options: PostgresStoreOptions): Db {
  const schema = options.schema;
  const channel = `${schema}_changes`;
  const nodes = openNodes({ nodes: options.nodes, operationTimeout: options.operationTimeout, poolSize: options.poolSize, onError: options.onError });
  let migrated: Promise<void> | undefined;
  const ready = () => {
    migrated ??= nodes
      .transaction((client) => migrate(client, schema))
      .catch((err: unknown) => {
        migrated = undefined;
        throw err;
      });
    return migrated;
  };
  const query = async <R extends pg.QueryResultRow = Row>(text: string, values: unknown[]) => {
    await ready();
    return nodes.query<R>(text, values);
  };
  const sql = statements(schema, channel);
  const read = async (key: string) => {
    const { rows } = await query(sql.get, [key]);
    return rows[0] && recordOf(rows[0]);
  };
  return { nodes, sql, channel, ready, query, read };
}

/**
 * Marks an in-flight record as waited for, so its completion or release NOTIFYs. Waiters of
 * one key in this process share a mark for a while. A change that came before the mark
 * (or a failed mark) costs at most the poll fallback, as a missed NOTIFY does.
 */
class Watches {
  private readonly marks = new Map<string, { at: number; done: Promise<void> }>();

  constructor(
    private readonly db: Db,
    private readonly waiters: Waiters,
  ) {}

  watch(key: string): Promise<void> {
    const mark = this.marks.get(key);
    if (mark && Date.now() - mark.at < MARK_REUSE_MS) return mark.done;
    if (this.marks.size >= MAX_MARKS) this.marks.clear();
    const done = this.db.query(this.db.sql.watch, [key]).then(
      () => {},
      () => {},
    );
    this.marks.set(key, { at: Date.now(), done });
    return done;
  }

  wake(key: string): void {
    this.marks.delete(key);
    this.waiters.wake(key);
  }
}

type Completion = { key: string; token: string; record: FinalRecord; ttlMs: number; entry: LedgerEntry | undefined };

/**
 * The statements one event-loop turn shares. New keys in one INSERT: true for each whose row
 * went in (by its owner token). Completions in one UPDATE (with their ledger rows): true for
 * each that was the owner's. A value the database refuses fails only its own item (TurnBatch's isolate).
 */
function turnBatches({ query, sql }: Db) {
  const newKeys = new TurnBatch<{ key: string; request: ClaimRequest }, boolean>(async (items) => {
    const rows = items.map(({ key, request: r }) => [key, r.token, r.fingerprint, r.leaseMs, r.ttlMs, aboutText(r.about)]);
    const inserted = new Set((await query<{ token: string }>(sql.claimNew, columns(rows, 6))).rows.map((row) => row.token));
    return items.map(({ request }) => inserted.has(request.token));
  }, isValueError);
  const completions = new TurnBatch<Completion, boolean>(async (items) => {
    const rows = items.map(({ key, token, record, ttlMs, entry }) => [key, token, ...settable(record), ttlMs, ...logged(entry)]);
    const done = new Set((await query<{ token: string }>(sql.completeMany, columns(rows, rows[0]?.length ?? 0))).rows.map((row) => row.token));
    return items.map(({ token }) => done.has(token));
  }, isValueError);
  return { newKeys, completions };
}

/** The writes: claims and completions batched per turn, every write fenced by the owner token. */
function writes(db: Db, { newKeys, completions }: ReturnType<typeof turnBatches>): Pick<RemoteStore, "claim" | "complete" | "renew" | "release" | "putFinal"> {
  const { query, sql, read } = db;
  return {
    async claim(key, request): Promise<ClaimResult> {
      // A new key, the common case: one INSERT shared with the turn's other new keys.
      if (await newKeys.add({ key, request })) return { outcome: "claimed" };
      for (;;) {
        const { rows } = await query<{ previous: InFlightRecordJson | null }>(sql.claim, [
          key,
          request.token,
          request.fingerprint,
          request.leaseMs,
          request.ttlMs,
          aboutText(request.about),
        ]);
        if (rows.length === 1) {
          const previous = rows[0]?.previous;
          return previous ? { outcome: "taken-over", previous: previousOf(previous) } : { outcome: "claimed" };
        }
        const record = await read(key);
        if (record) return { outcome: "exists", record };
        // Gone between the two statements (released, expired): claim again.
      }
    },
    async complete(key, token, record, ttlMs, entry) {
      try {
        return await completions.add({ key, token, record, ttlMs, entry });
      } catch (err) {
        // The commit may have happened: read the row back. Not committed (or unreadable), the
        // failure stands, whatever it was — the database down, or up and this write cancelled,
        // timed out or refused: the shared layer journals the answer before the client gets it.
        const committed = await committedAfterAll(read, key, record).catch(() => undefined);
        if (committed === undefined) throw err;
        return committed;
      }
    },
    renew: async (key, token, leaseMs) => (await query(sql.renew, [key, token, leaseMs])).rowCount === 1,
    release: async (key, token, entry) => (await query(sql.release, [key, token, ...logged(entry)])).rowCount === 1,
    putFinal: (key, record, ttlMs, entry) => putFinalIn(db, key, record, ttlMs, entry),
  };
}

/**
 * After a failed completion: the row read back. true: it committed after all; false: the
 * key holds another outcome (or none); undefined: still in flight — it did not commit.
 */
async function committedAfterAll(read: Db["read"], key: string, record: FinalRecord): Promise<boolean | undefined> {
  const now = await read(key);
  if (now?.state === "in-flight") return undefined;
  return now?.state === record.state && now.completedAt === record.completedAt && now.fingerprint === record.fingerprint;
}

/** A journaled answer written back: over anything but a completed record or a live claim. */
async function putFinalIn({ nodes, ready, sql }: Db, key: string, record: FinalRecord, ttlMs: number, entry: LedgerEntry | undefined) {
  await ready();
  return nodes.transaction(async (client) => {
    const { rows } = await client.query<Row & { live: boolean }>(sql.lock, [key]);
    const held = rows[0] && recordOf(rows[0]);
    if (held?.state === "completed") return "superseded" as const;
    if (held?.state === "in-flight" && rows[0]?.live) return "busy" as const;
    if (held?.state === "indeterminate" && record.state !== "completed") return "superseded" as const;
    await client.query(sql.put, [key, ...settable(record), ttlMs]);
    if (entry) await client.query(sql.log, ledgerValues(entry));
    return "written" as const;
  });
}

/** The reads, the ledger, and an operator's resolutions. */
function reads(db: Db): Pick<RemoteStore, "get" | "inspect" | "list" | "resolve" | "resolveJournaled" | "outcomes"> {
  const { query, sql, nodes, ready } = db;
  return {
    get: db.read,
    async inspect(key) {
      const { rows } = await query(sql.get, [key]);
      return rows[0] && entryOf(key, rows[0]);
    },
    async list({ state, limit, cursor }) {
      const after = cursor === undefined ? "" : decodeCursor<{ a: string }>(cursor, (v) => typeof v.a === "string").a;
      const { rows } = await query(sql.page, [state, after, limit + 1]);
      const entries = rows.slice(0, limit).map((row) => entryOf(row.key, row));
      return rows.length > limit ? { entries, cursor: encodeCursor({ a: entries.at(-1)?.key }) } : { entries };
    },
    resolve: (key, next, entry) => resolveIn(nodes, ready, sql, { key, next, entry, accept: "indeterminate" }),
    resolveJournaled: (key, next, ttlMs, entry) => resolveIn(nodes, ready, sql, { key, next, entry, accept: "not-completed", ttlMs }),
    async outcomes({ since, state, gateway, limit, cursor }) {
      const after = cursor === undefined ? 0 : decodeCursor<{ id: number }>(cursor, (v) => Number.isInteger(v.id)).id;
      const { rows } = await query<LedgerRow>(sql.outcomes, [since, state ?? null, gateway ?? null, after, limit + 1]);
      const outcomes = rows.slice(0, limit).map(ledgerEntryOf);
      return rows.length > limit ? { outcomes, cursor: encodeCursor({ id: outcomes.at(-1)?.id }) } : { outcomes };
    },
  };
}

function entryOf(key: string, row: Row): RecordEntry {
  return { key, record: recordOf(row), expiresAt: Number(row.expires_at), source: "postgres" };
}

/** An in-flight record as to_jsonb() gives it back. */
interface InFlightRecordJson {
  token: string;
  fingerprint: string;
  created_at: number | string;
  lease_until: number | string;
  expires_at: number | string;
  about: string | null;
}

function previousOf(json: InFlightRecordJson): InFlightRecord {
  return {
    state: "in-flight",
    token: json.token,
    fingerprint: json.fingerprint,
    createdAt: Number(json.created_at),
    leaseUntil: Number(json.lease_until),
    expiresAt: Number(json.expires_at),
    ...(json.about ? { about: JSON.parse(json.about) as RecordAbout } : {}),
  };
}

/**
 * An operator's resolution (or its journaled variant), in one transaction on the row: only
 * an indeterminate record — with `not-completed`, also a dead owner's in-flight record or
 * none — is replaced (the TTL left kept, or `ttlMs`) or deleted; never a completed record, nor
 * a live claim.
 */
async function resolveIn(
  nodes: Nodes,
  ready: () => Promise<void>,
  sql: Statements,
  change: { key: string; next: CompletedRecord | undefined; entry: LedgerEntry | undefined; accept: "indeterminate" | "not-completed"; ttlMs?: number },
): Promise<ResolveResult> {
  const { key, next, entry, accept, ttlMs } = change;
  await ready();
  return nodes.transaction(async (client) => {
    const { rows } = await client.query<Row & { live: boolean; ttl_left: string }>(sql.lock, [key]);
    const row = rows[0];
    const held = row && recordOf(row);
    const verdict = resolveVerdict(held, row?.live === true, next, accept);
    if (verdict !== "resolve") return verdict;
    if (!next) await client.query(sql.remove, [key]);
    else await client.query(sql.put, [key, ...settable(next), ttlMs ?? Math.max(1, Number(row?.ttl_left ?? 1))]);
    if (entry) {
      const { rows: last } = await client.query<LastRequest>(sql.lastRequest, [key]);
      await client.query(sql.log, ledgerValues(withRequestOf(entry, last[0])));
    }
    return "resolved";
  });
}

type Statements = ReturnType<typeof statements>;

/** A ledger entry's parameters after a write's own: a flag (append or not), then its values. */
function logged(entry: LedgerEntry | undefined): unknown[] {
  return entry ? [true, ...ledgerValues(entry)] : [false, ...LEDGER_COLUMNS.map(() => null)];
}

/** Columns a write sets from parameters; expires_at comes from the server's clock plus a TTL. */
const SETTABLE = RECORD_COLUMNS.filter((c) => c !== "expires_at");
const EXPIRES_AT = RECORD_COLUMNS.indexOf("expires_at");

/** A final record's parameters for SETTABLE, in order. */
function settable(record: FinalRecord): unknown[] {
  return finalValues(record, 0).filter((_, i) => i !== EXPIRES_AT);
}

/** The types of SETTABLE's columns, in order. */
const SETTABLE_TYPES = ["text", "text", "text", "bigint", "bigint", "bigint", "integer", "text", "integer", "text", "bytea", "text"];

/**
 * Many completions in one statement: one row of arrays per item — key, owner token, SETTABLE's
 * values, ttl, then the ledger flag and values (as `logged` gives them). Each changed record
 * gets its ledger row and, when watched, its NOTIFY; the owner tokens of the changed ones come back.
 */
function completeMany(t: string, ledger: string, casts: string[], channel: string): string {
  const types = ["text", "text", ...SETTABLE_TYPES, "bigint", "boolean", ...casts.map((c) => (c === "jsonb" ? "text" : c))];
  const names = ["key", "owner", ...SETTABLE.map((_, i) => `s${i}`), "ttl", "log", ...casts.map((_, i) => `l${i}`)];
  return `WITH v AS (SELECT * FROM unnest(${types.map((type, i) => `$${i + 1}::${type}[]`).join(", ")}) AS v(${names.join(", ")})),
    changed AS (
      UPDATE ${t} AS r SET (${SETTABLE.join(", ")}) = (${SETTABLE.map((_, i) => `v.s${i}`).join(", ")}), expires_at = ${NOW} + v.ttl
      FROM v WHERE r.key = v.key AND r.state = 'in-flight' AND r.token = v.owner
      RETURNING r.key, v.owner, r.watched),
    logged AS (INSERT INTO ${ledger} SELECT ${casts.map((c, i) => `v.l${i}::${c}`).join(", ")} FROM v JOIN changed c ON c.owner = v.owner WHERE v.log)
    SELECT c.owner AS token, CASE WHEN c.watched THEN pg_notify('${channel}', c.key) END FROM changed c`;
}

/** Every statement, on `schema`'s tables; values are always parameters. */
function statements(schema: string, channel: string) {
  const t = `${schema}.records`;
  const params = (from: number) => SETTABLE.map((_, i) => `$${from + i}`).join(", ");
  const ttl = (at: number) => `${NOW} + $${at}`;
  const notify = `SELECT pg_notify('${channel}', key) FROM changed`;
  /** One row per changed record; NOTIFY only for a record a waiter marked (see `watch`). */
  const notifyWatched = `SELECT key, CASE WHEN watched THEN pg_notify('${channel}', key) END FROM changed`;
  const ledger = `${schema}.ledger (${LEDGER_COLUMNS.join(", ")})`;
  const casts = LEDGER_PG_TYPES;
  /** Appends the entry whose flag and values start at parameter `from`, once per changed row. */
  const logChanged = (from: number) =>
    `logged AS (INSERT INTO ${ledger} SELECT ${casts.map((c, i) => `$${from + 1 + i}::${c}`).join(", ")} FROM changed WHERE $${from}::boolean)`;
  return {
    ping: "SELECT 1",
    get: `SELECT *, expires_at - ${NOW} AS ttl_left FROM ${t} WHERE key = $1 AND expires_at > ${NOW}`,
    claimNew: `INSERT INTO ${t} AS r (key, state, token, fingerprint, created_at, lease_until, expires_at, about)
      SELECT u.key, 'in-flight', u.token, u.fingerprint, now.ms, now.ms + u.lease, now.ms + GREATEST(u.ttl, u.lease), u.about
      FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[]) AS u(key, token, fingerprint, lease, ttl, about),
        (SELECT ${NOW} AS ms) now
      ON CONFLICT (key) DO NOTHING
      RETURNING r.token`,
    // prev is read with the statement's snapshot (the version before this write); the claim's
    // atomicity is ON CONFLICT's: it locks the row and judges the WHERE on its latest version.
    claim: `WITH prev AS (SELECT * FROM ${t} WHERE key = $1), now AS (SELECT ${NOW} AS ms)
      INSERT INTO ${t} AS r (key, state, token, fingerprint, created_at, lease_until, expires_at, about)
      SELECT $1, 'in-flight', $2, $3, now.ms, now.ms + $4, now.ms + GREATEST($4::bigint, $5::bigint), $6::text FROM now
      ON CONFLICT (key) DO UPDATE SET state = 'in-flight', token = EXCLUDED.token, fingerprint = EXCLUDED.fingerprint,
        created_at = EXCLUDED.created_at, completed_at = NULL, lease_until = EXCLUDED.lease_until, expires_at = EXCLUDED.expires_at,
        attempts = NULL, reason = NULL, status = NULL, headers = NULL, body = NULL, about = EXCLUDED.about
      WHERE r.expires_at <= EXCLUDED.created_at OR (r.state = 'in-flight' AND r.lease_until <= EXCLUDED.created_at)
      RETURNING (SELECT CASE WHEN p.state = 'in-flight' AND p.expires_at > r.created_at
                             THEN jsonb_build_object('token', p.token, 'fingerprint', p.fingerprint, 'created_at', p.created_at,
                                                     'lease_until', p.lease_until, 'expires_at', p.expires_at, 'about', p.about) END
                 FROM prev p) AS previous`,
    completeMany: completeMany(t, ledger, casts, channel),
    // The expiry moves on as far as the lease does, never short of it (types.ts, renewedLease).
    renew: `WITH now AS (SELECT ${NOW} + $3::bigint AS until)
      UPDATE ${t} SET expires_at = GREATEST(expires_at + GREATEST(0, now.until - lease_until), now.until), lease_until = now.until
      FROM now WHERE key = $1 AND state = 'in-flight' AND token = $2`,
    release: `WITH changed AS (DELETE FROM ${t} WHERE key = $1 AND state = 'in-flight' AND token = $2 RETURNING key, watched), ${logChanged(3)} ${notifyWatched}`,
    watch: `UPDATE ${t} SET watched = true WHERE key = $1 AND state = 'in-flight' AND expires_at > ${NOW}`,
    log: `INSERT INTO ${ledger} VALUES (${casts.map((c, i) => `$${1 + i}::${c}`).join(", ")})`,
    outcomes: `SELECT * FROM ${schema}.ledger WHERE settled_at >= $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR gateway = $3)
      AND id > $4 ORDER BY id LIMIT $5`,
    lastRequest: LAST_REQUEST(`${schema}.ledger`, "$1"),
    forget: `DELETE FROM ${schema}.ledger WHERE id IN (SELECT id FROM ${schema}.ledger WHERE settled_at <= ${NOW} - $1 LIMIT ${SWEEP_BATCH})`,
    page: `SELECT * FROM ${t} WHERE state = $1 AND key > $2 AND expires_at > ${NOW} ORDER BY key LIMIT $3`,
    lock: `SELECT *, (state = 'in-flight' AND lease_until > ${NOW}) AS live, expires_at - ${NOW} AS ttl_left
      FROM ${t} WHERE key = $1 AND expires_at > ${NOW} FOR UPDATE`,
    put: `WITH changed AS (
        INSERT INTO ${t} (key, ${SETTABLE.join(", ")}, expires_at) VALUES ($1, ${params(2)}, ${ttl(2 + SETTABLE.length)})
        ON CONFLICT (key) DO UPDATE SET ${RECORD_COLUMNS.map((c) => `${c} = EXCLUDED.${c}`).join(", ")} RETURNING key)
      ${notify}`,
    remove: `WITH changed AS (DELETE FROM ${t} WHERE key = $1 RETURNING key) ${notify}`,
    sweep: `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${t} WHERE expires_at <= ${NOW} LIMIT ${SWEEP_BATCH})`,
  };
}
