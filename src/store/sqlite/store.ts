/**
 * The durable embedded store: one SQLite file (better-sqlite3), one replica. Each write is
 * one short synchronous function run inside a transaction, so each is atomic in this
 * process, and BEGIN IMMEDIATE makes it atomic against another process on the same file too.
 * Writes of one event-loop turn share one commit (group-commit.ts).
 * With WAL, an answer settled before the process is killed is there after the restart.
 * Waiters are woken in process. Expired records are deleted in bounded batches. It opens only
 * once a write has committed (open.ts), and is ready only while writes commit (health.ts).
 */
import { decodeCursor, encodeCursor } from "../cursor.js";
import { resolveVerdict } from "../resolve-rule.js";
import { LAST_REQUEST, LEDGER_COLUMNS, type LedgerRow, ledgerEntryOf, ledgerValues, withRequestOf } from "../sql/ledger.js";
import { finalValues, inFlightValues, RECORD_COLUMNS, type RecordRow, recordOf } from "../sql/rows.js";
import { type ClaimResult, type IdempotencyStore, inFlightRecord, type LedgerEntry, type RecordEntry, type StoreStats } from "../types.js";
import { Waiters } from "../waiters.js";
import { startBackground } from "./background.js";
import { GroupCommit } from "./group-commit.js";
import { PROBE_MS, WriteHealth } from "./health.js";
import { openWritable } from "./open.js";
import { PROBE, type Synchronous } from "./schema.js";

export interface SqliteStoreOptions {
  /** the database file; its directory is created if missing */
  path: string;
  synchronous: Synchronous;
  /** how long ledger rows are kept (their own retention, not the records' TTL) */
  ledgerRetentionMs: number;
  now?: () => number;
  /** how often the background thread counts the records for stats(); default COUNT_MS */
  countEveryMs?: number;
  /** how often expired records and old ledger rows are deleted; default SWEEP_MS */
  sweepEveryMs?: number;
  /** how often a small write proves the store can take a claim; default PROBE_MS */
  probeEveryMs?: number;
  /** told each time the store stops or starts taking writes, with SQLite's reason when it stops */
  onWritable?: (writable: boolean, reason?: string) => void;
}

/** The SQLite store, and whether it can take a claim now (for /readyz). */
export interface SqliteStore extends IdempotencyStore {
  ready(): boolean;
}

/** How often expired records are deleted, and at most how many per round. */
const SWEEP_MS = 10_000;
const SWEEP_BATCH = 1_000;
const SWEEP_BATCHES = 20;
/** How often the WAL is checkpointed into the database file (by a worker thread). */
const CHECKPOINT_MS = 1_000;
/** How often the background thread counts the records for the metrics. */
export const COUNT_MS = 5_000;
const COUNT_SQL = "SELECT COUNT(*) AS entries, COALESCE(SUM(state = 'in-flight'), 0) AS inFlight FROM records WHERE expires_at > ?";

const SET_ALL = RECORD_COLUMNS.map((c) => `${c} = ?`).join(", ");
const INSERT = `INSERT INTO records (key, ${RECORD_COLUMNS.join(", ")}) VALUES (?${", ?".repeat(RECORD_COLUMNS.length)})
  ON CONFLICT (key) DO UPDATE SET ${RECORD_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}`;

/** Opens the store at `options.path`; throws a StoreError with a one-line reason when it cannot write there. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const now = options.now ?? Date.now;
  const db = openWritable(options.path, options.synchronous, now());
  const sql = {
    select: db.prepare<[string], RecordRow>("SELECT * FROM records WHERE key = ?"),
    put: db.prepare(INSERT),
    complete: db.prepare(`UPDATE records SET ${SET_ALL} WHERE key = ? AND state = 'in-flight' AND token = ?`),
    // The expiry moves on as far as the lease does, never short of it (types.ts, renewedLease).
    renew: db.prepare<{ until: number; key: string; token: string }>(
      "UPDATE records SET expires_at = MAX(expires_at + MAX(0, @until - lease_until), @until), lease_until = @until WHERE key = @key AND state = 'in-flight' AND token = @token",
    ),
    release: db.prepare("DELETE FROM records WHERE key = ? AND state = 'in-flight' AND token = ?"),
    remove: db.prepare("DELETE FROM records WHERE key = ?"),
    page: db.prepare<[string, string, number, number], RecordRow>("SELECT * FROM records WHERE state = ? AND key > ? AND expires_at > ? ORDER BY key LIMIT ?"),
    sweep: db.prepare(`DELETE FROM records WHERE key IN (SELECT key FROM records WHERE expires_at <= ? LIMIT ${SWEEP_BATCH})`),
    count: db.prepare<[number], { entries: number; inFlight: number }>(COUNT_SQL),
    log: db.prepare(`INSERT INTO ledger (${LEDGER_COLUMNS.join(", ")}) VALUES (${LEDGER_COLUMNS.map(() => "?").join(", ")})`),
    outcomes: db.prepare<[number, string | null, string | null, number, number], LedgerRow>(
      "SELECT * FROM ledger WHERE settled_at >= ? AND (? IS NULL OR state = ?) AND id > ? ORDER BY id LIMIT ?",
    ),
    forget: db.prepare(`DELETE FROM ledger WHERE id IN (SELECT id FROM ledger WHERE settled_at <= ? LIMIT ${SWEEP_BATCH})`),
    lastRequest: db.prepare<[string], { route: string; method: string; path: string }>(LAST_REQUEST("ledger", "?")),
    probe: db.prepare(PROBE),
    // prepared once, as every statement here (driver.ts): a /metrics scrape prepares none
    pageCount: db.prepare("PRAGMA page_count").pluck(),
    pageSize: db.prepare("PRAGMA page_size").pluck(),
  };
  const health = new WriteHealth(options.onWritable);
  const writes = new GroupCommit(db, (err) => health.refused(err));
  health.probe(() => writes.run(() => sql.probe.run(now())), options.probeEveryMs ?? PROBE_MS);
  // Counted here once at open, then by the background thread every COUNT_MS.
  let counts = sql.count.get(now()) ?? { entries: 0, inFlight: 0 };
  const background = startBackground(options.path, {
    checkpointEveryMs: CHECKPOINT_MS,
    countEveryMs: options.countEveryMs ?? COUNT_MS,
    countSql: COUNT_SQL,
    onCounts: (latest) => {
      counts = latest;
    },
  });
  /** Runs `write`; when it changed the record, appends the ledger entry in the same transaction. */
  const logged = (write: () => boolean, entry: LedgerEntry | undefined) =>
    writes.run(() => {
      const changed = write();
      if (changed && entry) sql.log.run(...ledgerValues(entry));
      return changed;
    });
  const waiters = new Waiters();
  /** The live record of `key`: an expired one counts as none. */
  const live = (key: string) => {
    const row = sql.select.get(key);
    return row && Number(row.expires_at) > now() ? recordOf(row) : undefined;
  };

  const claim = (key: string, request: Parameters<IdempotencyStore["claim"]>[1]): ClaimResult => {
    const t = now();
    const current = live(key);
    const fresh = inFlightRecord(request, t);
    if (current && (current.state !== "in-flight" || current.leaseUntil > t)) return { outcome: "exists", record: current };
    sql.put.run(key, ...inFlightValues(fresh));
    return current ? { outcome: "taken-over", previous: current as typeof fresh } : { outcome: "claimed" };
  };

  const resolve = (key: string, next: Parameters<IdempotencyStore["resolve"]>[1], entry: LedgerEntry | undefined) => {
    const current = live(key);
    const verdict = resolveVerdict(current, current?.state === "in-flight" && current.leaseUntil > now(), next);
    if (verdict !== "resolve") return verdict;
    const expiresAt = Number(sql.select.get(key)?.expires_at);
    if (next) sql.put.run(key, ...finalValues(next, expiresAt));
    else sql.remove.run(key);
    if (entry) sql.log.run(...ledgerValues(withRequestOf(entry, sql.lastRequest.get(key))));
    return "resolved" as const;
  };

  const sweeper = setInterval(() => {
    // A round that fails (the file locked by another process past busy_timeout) leaves the
    // rows to the next one; reads already treat an expired record as none.
    try {
      for (let i = 0; i < SWEEP_BATCHES && sql.sweep.run(now()).changes === SWEEP_BATCH; i++);
      for (let i = 0; i < SWEEP_BATCHES && sql.forget.run(now() - options.ledgerRetentionMs).changes === SWEEP_BATCH; i++);
    } catch {}
  }, options.sweepEveryMs ?? SWEEP_MS);
  sweeper.unref();

  const entryOf = (key: string, row: RecordRow): RecordEntry => ({ key, record: recordOf(row), expiresAt: Number(row.expires_at), source: "sqlite" });
  const changed = <T>(key: string, result: T): T => {
    waiters.wake(key);
    return result;
  };

  return {
    claim: (key, request) => writes.run(() => claim(key, request)),
    get: async (key) => live(key),

    async complete(key, token, record, ttlMs, entry) {
      const done = await logged(() => sql.complete.run(...finalValues(record, now() + ttlMs), key, token).changes === 1, entry);
      return done ? changed(key, true) : false;
    },

    renew: (key, token, leaseMs) => writes.run(() => sql.renew.run({ until: now() + leaseMs, key, token }).changes === 1),

    async release(key, token, entry) {
      const done = await logged(() => sql.release.run(key, token).changes === 1, entry);
      return done ? changed(key, true) : false;
    },

    async inspect(key) {
      const row = sql.select.get(key);
      return row && Number(row.expires_at) > now() ? entryOf(key, row) : undefined;
    },

    async list({ state, limit, cursor }) {
      const after = cursor === undefined ? "" : decodeCursor<{ a: string }>(cursor, (v) => typeof v.a === "string").a;
      const rows = sql.page.all(state, after, now(), limit + 1);
      const page = rows.slice(0, limit).map((row) => entryOf(row.key, row));
      return rows.length > limit ? { entries: page, cursor: encodeCursor({ a: page.at(-1)?.key }) } : { entries: page };
    },

    async resolve(key, next, entry) {
      const result = await writes.run(() => resolve(key, next, entry));
      return result === "resolved" ? changed(key, result) : result;
    },

    async outcomes({ since, state, limit, cursor }) {
      const after = cursor === undefined ? 0 : decodeCursor<{ id: number }>(cursor, (v) => Number.isInteger(v.id)).id;
      const rows = sql.outcomes.all(since, state ?? null, state ?? null, after, limit + 1);
      const outcomes = rows.slice(0, limit).map(ledgerEntryOf);
      return rows.length > limit ? { outcomes, cursor: encodeCursor({ id: outcomes.at(-1)?.id }) } : { outcomes };
    },

    waitForChange: (key, timeoutMs) => waiters.wait(key, timeoutMs),

    stats(): StoreStats {
      const { entries, inFlight } = counts;
      const bytes = (sql.pageCount.get() as number) * (sql.pageSize.get() as number);
      return { entries, bytes, inFlight };
    },

    ready: () => health.ready(),

    async close() {
      clearInterval(sweeper);
      health.stop();
      writes.flush();
      waiters.wakeAll();
      await background.close();
      db.close();
    },
  };
}
