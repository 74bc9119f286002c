/**
 * The durable embedded store: one SQLite file (better-sqlite3), one replica. Each write is
 * one short synchronous function run inside a transaction, so each is atomic in this
 * process, and BEGIN IMMEDIATE makes it atomic against another process on the same file too.
 * Writes of one event-loop turn share one commit (group-commit.ts).
 * With WAL, an answer settled before the process is killed is there after the restart.
 * Waiters are woken in process. Expired records are deleted in bounded batches. It opens only
 * once a write has committed (open.ts), and is ready only while writes commit (health.ts).
 */
import type Database from "better-sqlite3";
import { decodeCursor, encodeCursor } from "../cursor.js";
import { resolveVerdict } from "../resolve-rule.js";
import { ledgerEntryOf, ledgerValues, withRequestOf } from "../sql/ledger.js";
import { finalValues, inFlightValues, type RecordRow, recordOf } from "../sql/rows.js";
import {
  type ClaimRequest,
  type ClaimResult,
  type FinalRecord,
  type IdempotencyStore,
  inFlightRecord,
  type LedgerEntry,
  type RecordEntry,
  type ResolveResult,
  type StoreStats,
} from "../types.js";
import { Waiters } from "../waiters.js";
import { type Background, type Counts, startBackground } from "./background.js";
import { GroupCommit } from "./group-commit.js";
import { PROBE_MS, WriteHealth } from "./health.js";
import { SqliteInbox } from "./inbox.js";
import { openWritable } from "./open.js";
import type { Synchronous } from "./schema.js";
import { COUNT_SQL, type Statements, SWEEP_BATCH, statementsOf } from "./statements.js";

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
  /** webhook events settle the ledger (endpoints are configured): keep the indexes they need */
  settles?: boolean;
}

/** The SQLite store, and whether it can take a claim now (for /readyz). */
export interface SqliteStore extends IdempotencyStore {
  ready(): boolean;
}

/** How often expired records are deleted, and at most how many statements per round. */
const SWEEP_MS = 10_000;
const SWEEP_BATCHES = 20;
/** How often the WAL is checkpointed into the database file (by a worker thread). */
const CHECKPOINT_MS = 1_000;
/** How often the background thread counts the records for the metrics. */
export const COUNT_MS = 5_000;

/** Opens the store at `options.path`; throws a StoreError with a one-line reason when it cannot write there. */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const r = new SqliteRecords(options);
  return {
    claim: (key, request) => r.writes.run(() => r.claim(key, request)),
    get: async (key) => r.live(key),
    complete: (key, token, record, ttlMs, entry) => r.complete(key, token, record, ttlMs, entry),
    renew: (key, token, leaseMs) => r.renew(key, token, leaseMs),
    release: (key, token, entry) => r.release(key, token, entry),
    inspect: async (key) => r.inspect(key),
    list: async (request) => r.list(request),
    resolve: (key, next, entry) => r.resolve(key, next, entry),
    outcomes: async (request) => r.outcomes(request),
    webhooks: r.inbox,
    waitForChange: (key, timeoutMs) => r.waiters.wait(key, timeoutMs),
    stats: () => r.stats(),
    ready: () => r.health.ready(),
    close: () => r.close(),
  };
}

type OutcomesRequest = Parameters<NonNullable<IdempotencyStore["outcomes"]>>[0];

class SqliteRecords {
  readonly waiters = new Waiters();
  readonly health: WriteHealth;
  readonly writes: GroupCommit;
  readonly inbox: SqliteInbox;
  private readonly now: () => number;
  private readonly db: Database.Database;
  private readonly sql: Statements;
  private counts: Counts;
  private readonly background: Background;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: SqliteStoreOptions) {
    this.now = options.now ?? Date.now;
    this.db = openWritable(options.path, options.synchronous, this.now(), options.settles);
    this.sql = statementsOf(this.db);
    this.health = new WriteHealth(options.onWritable);
    this.writes = new GroupCommit(this.db, (err) => this.health.refused(err));
    this.inbox = new SqliteInbox(this.db, this.writes);
    this.health.probe(() => this.writes.run(() => this.sql.probe.run(this.now())), options.probeEveryMs ?? PROBE_MS);
    // Counted here once at open, then by the background thread every COUNT_MS.
    this.counts = this.sql.count.get(this.now()) ?? { entries: 0, inFlight: 0 };
    this.background = startBackground(options.path, {
      checkpointEveryMs: CHECKPOINT_MS,
      countEveryMs: options.countEveryMs ?? COUNT_MS,
      countSql: COUNT_SQL,
      onCounts: (latest) => {
        this.counts = latest;
      },
    });
    this.sweeper = setInterval(() => this.sweep(), options.sweepEveryMs ?? SWEEP_MS);
    this.sweeper.unref();
  }

  /** The live record of `key`: an expired one counts as none. */
  live(key: string) {
    const row = this.sql.select.get(key);
    return row && Number(row.expires_at) > this.now() ? recordOf(row) : undefined;
  }

  /** Runs inside a write of the group commit. */
  claim(key: string, request: ClaimRequest): ClaimResult {
    const t = this.now();
    const current = this.live(key);
    const fresh = inFlightRecord(request, t);
    if (current && (current.state !== "in-flight" || current.leaseUntil > t)) return { outcome: "exists", record: current };
    this.sql.put.run(key, ...inFlightValues(fresh));
    return current ? { outcome: "taken-over", previous: current as typeof fresh } : { outcome: "claimed" };
  }

  async complete(key: string, token: string, record: FinalRecord, ttlMs: number, entry: LedgerEntry | undefined): Promise<boolean> {
    const done = await this.logged(() => this.sql.complete.run(...finalValues(record, this.now() + ttlMs), key, token).changes === 1, entry);
    return done ? this.changed(key, true) : false;
  }

  renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    return this.writes.run(() => this.sql.renew.run({ until: this.now() + leaseMs, key, token }).changes === 1);
  }

  async release(key: string, token: string, entry: LedgerEntry | undefined): Promise<boolean> {
    const done = await this.logged(() => this.sql.release.run(key, token).changes === 1, entry);
    return done ? this.changed(key, true) : false;
  }

  inspect(key: string): RecordEntry | undefined {
    const row = this.sql.select.get(key);
    return row && Number(row.expires_at) > this.now() ? entryOf(key, row) : undefined;
  }

  list({ state, limit, cursor }: Parameters<IdempotencyStore["list"]>[0]): Awaited<ReturnType<IdempotencyStore["list"]>> {
    const after = cursor === undefined ? "" : decodeCursor<{ a: string }>(cursor, (v) => typeof v.a === "string").a;
    const rows = this.sql.page.all(state, after, this.now(), limit + 1);
    const page = rows.slice(0, limit).map((row) => entryOf(row.key, row));
    return rows.length > limit ? { entries: page, cursor: encodeCursor({ a: page.at(-1)?.key }) } : { entries: page };
  }

  async resolve(key: string, next: Parameters<IdempotencyStore["resolve"]>[1], entry: LedgerEntry | undefined): Promise<ResolveResult> {
    const result = await this.writes.run(() => this.resolveNow(key, next, entry));
    return result === "resolved" ? this.changed(key, result) : result;
  }

  outcomes({ since, state, gateway, limit, cursor }: OutcomesRequest) {
    const after = cursor === undefined ? 0 : decodeCursor<{ id: number }>(cursor, (v) => Number.isInteger(v.id)).id;
    const rows = this.sql.outcomes.all(since, state ?? null, state ?? null, gateway ?? null, gateway ?? null, after, limit + 1);
    const outcomes = rows.slice(0, limit).map(ledgerEntryOf);
    return rows.length > limit ? { outcomes, cursor: encodeCursor({ id: outcomes.at(-1)?.id }) } : { outcomes };
  }

  stats(): StoreStats {
    const { entries, inFlight } = this.counts;
    const bytes = (this.sql.pageCount.get() as number) * (this.sql.pageSize.get() as number);
    return { entries, bytes, inFlight };
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.health.stop();
    this.writes.flush();
    this.waiters.wakeAll();
    await this.background.close();
    this.db.close();
  }

  /** Runs inside a write of the group commit. */
  private resolveNow(key: string, next: Parameters<IdempotencyStore["resolve"]>[1], entry: LedgerEntry | undefined): ResolveResult {
    const current = this.live(key);
    const verdict = resolveVerdict(current, current?.state === "in-flight" && current.leaseUntil > this.now(), next);
    if (verdict !== "resolve") return verdict;
    const expiresAt = Number(this.sql.select.get(key)?.expires_at);
    if (next) this.sql.put.run(key, ...finalValues(next, expiresAt));
    else this.sql.remove.run(key);
    if (entry) this.sql.log.run(...ledgerValues(withRequestOf(entry, this.sql.lastRequest.get(key))));
    return "resolved";
  }

  /** Runs `write`; when it changed the record, appends the ledger entry in the same transaction. */
  private logged(write: () => boolean, entry: LedgerEntry | undefined): Promise<boolean> {
    return this.writes.run(() => {
      const changed = write();
      if (changed && entry) this.sql.log.run(...ledgerValues(entry));
      return changed;
    });
  }

  private changed<T>(key: string, result: T): T {
    this.waiters.wake(key);
    return result;
  }

  /**
   * Deletes expired records and old ledger rows in bounded batches. A round that fails (the
   * file locked by another process past busy_timeout) leaves the rows to the next one; reads
   * already treat an expired record as none.
   */
  private sweep(): void {
    try {
      for (let i = 0; i < SWEEP_BATCHES && this.sql.sweep.run(this.now()).changes === SWEEP_BATCH; i++);
      for (let i = 0; i < SWEEP_BATCHES && this.sql.forget.run(this.now() - this.options.ledgerRetentionMs).changes === SWEEP_BATCH; i++);
    } catch {}
  }
}

function entryOf(key: string, row: RecordRow): RecordEntry {
  return { key, record: recordOf(row), expiresAt: Number(row.expires_at), source: "sqlite" };
}
