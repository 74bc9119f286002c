/**
 * The Redis-backed store as payguard uses it: Redis for every record, the local journal for
 * answers that could not be written to Redis, and (only with `onUnavailable: local`) the
 * memory store while Redis is down.
 *
 * Consistency over availability:
 * - Redis down at claim time → store_unavailable (503, nothing sent), unless the operator
 *   chose `local`: then keys are deduplicated by this replica only, logged and counted.
 * - Redis down when the gateway has already answered → the answer is appended to the
 *   journal (fsync'd) before the client gets it, served from there to repeats on this
 *   replica, and written back to Redis as soon as it answers again (and at start).
 *
 * Operator resolutions (admin API) and write-back run one at a time: a journaled
 * indeterminate record the operator resolved is dropped from the journal in the same turn,
 * so a later write-back can never put it back over the operator's answer (or revive it
 * after a release).
 */
import type { StoreConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { createCipher, parseKeys } from "./crypto.js";
import { decodeCursor, encodeCursor, pageByKey } from "./cursor.js";
import { Journal } from "./journal.js";
import { createMemoryStore } from "./memory.js";
import { sealRecord, unsealRecord } from "./sealing.js";
import {
  type ClaimRequest,
  type ClaimResult,
  type FinalRecord,
  type IdempotencyStore,
  type InFlightRecord,
  inFlightRecord,
  isStoreError,
  type LedgerEntry,
  type ListPage,
  type RecordEntry,
  type RemoteStore,
  StoreError,
} from "./types.js";
import { Waiters } from "./waiters.js";

export interface ReadyStore extends IdempotencyStore {
  /** false while the store cannot serve claims (for /readyz) */
  ready(): boolean;
}

/** How often the journal is written back and Redis's health is checked. */
const MAINTENANCE_MS = 1000;
/** Bound on claims remembered for a late release while Redis is down. */
const MAX_ORPHANS = 10_000;

/**
 * `remote` (Redis, PostgreSQL) as payguard uses it: with the journal for answers it cannot
 * take, holds on this replica's keys, and the local fallback (`onUnavailable: local`).
 */
export async function createSharedStore(remote: RemoteStore, config: StoreConfig, deps: { metrics: Metrics; logger: Logger }): Promise<ReadyStore> {
  const { metrics, logger } = deps;
  const journal = await Journal.open({ dir: config.journal.dir, fsync: config.journal.fsync });
  if (journal.torn.length > 0) logger.error({ torn: journal.torn }, "journal: skipped torn or corrupt lines (complete records were kept)");
  metrics.observeJournal(() => ({ entries: journal.size(), bytes: journal.pendingBytes(), full: journalFull() }));
  /**
   * The journal is bounded: at the cap, new keys are refused (fail closed, nothing sent),
   * while an answer already obtained is always appended — so it exceeds the cap by at most
   * the keys in flight when it was reached.
   */
  const journalFull = () => journal.size() >= config.journal.maxEntries || journal.pendingBytes() >= config.journal.maxBytes;

  const cipher = createCipher(parseKeys(config.encryption.key));
  const local = createMemoryStore({ maxEntries: config.maxEntries, maxSize: config.maxSize });
  // The journal is storage at rest too: with encryption on, its answers are sealed.
  const journalAppend = (key: string, record: FinalRecord, ttlMs: number, ledger: LedgerEntry | undefined) =>
    journal.append({ key, record: sealRecord(key, record, cipher), ttlMs, writtenAt: Date.now(), ...(ledger ? { ledger } : {}) });
  const journalGet = (key: string) => {
    const entry = journal.get(key);
    return entry && { ...entry, record: unsealRecord(key, entry.record, cipher) };
  };
  const journalEntry = (entry: { key: string; record: FinalRecord; writtenAt: number; ttlMs: number }): RecordEntry => ({
    key: entry.key,
    record: unsealRecord(entry.key, entry.record, cipher),
    expiresAt: entry.writtenAt + entry.ttlMs,
    source: "journal",
  });

  /** Write-back and operator resolutions, one at a time (see the header). */
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn);
    turn = run.catch(() => {});
    return run;
  };
  /** tokens whose claim lives in the local store (Redis was down when they claimed) */
  const localTokens = new Set<string>();

  const failed = (op: string, err: unknown): boolean => {
    if (!isStoreError(err) || err.code !== "store_unavailable") return false;
    metrics.storeErrors.inc({ op });
    return true;
  };

  let replaying = false;
  const writeBack = async () => {
    if (replaying || journal.size() === 0) return;
    replaying = true;
    try {
      let deferred = 0;
      const result = await inTurn(() =>
        journal.replay(async (entry) => {
          const outcome = await remote.putFinal(
            entry.key,
            unsealRecord(entry.key, entry.record, cipher),
            Math.max(1, entry.writtenAt + entry.ttlMs - Date.now()),
            entry.ledger,
          );
          if (outcome === "busy") {
            // Another replica holds a live claim on the key: keep the entry, try again later.
            deferred++;
            throw new Error("key in flight elsewhere");
          }
          metrics.journalReplays.inc({ result: outcome });
        }),
      );
      if (deferred > 0) metrics.journalReplays.inc({ result: "deferred" }, deferred);
      if (result.failed > deferred) metrics.journalReplays.inc({ result: "failed" }, result.failed - deferred);
      if (result.replayed > 0) logger.info({ replayed: result.replayed, pending: journal.size() }, "journal: outcomes written back to redis");
    } finally {
      replaying = false;
    }
  };
  /** Claims whose answer from Redis never arrived (timed out): free them once Redis answers. */
  const orphans = new Map<string, { key: string; ledger?: LedgerEntry }>();
  const maintain = async () => {
    if (!(await remote.ping())) return;
    for (const [token, { key, ledger }] of orphans) {
      await remote.release(key, token, ledger).then(
        () => orphans.delete(token),
        () => {},
      );
    }
    await writeBack();
  };
  // One round at a time: a round that outlasts the interval (a slow Redis) is not joined by
  // another, whose checks and write-backs would only pile onto it.
  let maintaining = false;
  const maintainSafely = () => {
    if (maintaining) return;
    maintaining = true;
    maintain()
      .catch((err: unknown) => logger.error({ err: String(err) }, "store: maintenance failed"))
      .finally(() => {
        maintaining = false;
      });
  };
  const maintenance = setInterval(maintainSafely, MAINTENANCE_MS);
  maintenance.unref();
  maintainSafely();

  /**
   * Keys claimed on this replica and not yet settled, whichever store holds the claim: a
   * duplicate arriving here must wait for them even when Redis comes or goes meanwhile.
   */
  const held = new Map<string, InFlightRecord>();
  const heldLive = (key: string): InFlightRecord | undefined => {
    const record = held.get(key);
    if (record && record.leaseUntil > Date.now()) return record;
    held.delete(key);
    return undefined;
  };
  const hold = (key: string, request: ClaimRequest) => held.set(key, inFlightRecord(request, Date.now()));
  /** Wakes this replica's waiters when a key it held is settled, whichever store settled it. */
  const settledHere = new Waiters();
  /**
   * Only once the outcome is durable somewhere — Redis took it, or the journal has it on
   * disk — or the key was released: until then a duplicate here must find the hold, or,
   * with Redis down, it would claim the key in the local store and go to the gateway again.
   */
  const unhold = (key: string, token: string) => {
    if (held.get(key)?.token === token) held.delete(key);
    settledHere.wake(key);
  };

  return {
    async claim(key, request): Promise<ClaimResult> {
      // An answer waiting in the journal is the truth for this key.
      const journaled = journalGet(key);
      if (journaled) return { outcome: "exists", record: journaled.record };
      const mine = heldLive(key);
      if (mine) return { outcome: "exists", record: mine };
      if (journalFull()) {
        metrics.storeErrors.inc({ op: "claim" });
        throw new StoreError(
          "store_full",
          `the journal holds ${journal.size()} answers (${journal.pendingBytes()} bytes) not yet written back: at store.journal's cap`,
        );
      }
      let result: ClaimResult;
      try {
        result = await remote.claim(key, request);
      } catch (err) {
        // The claim may still have reached Redis after our deadline: free it once Redis answers.
        if (failed("claim", err) && orphans.size < MAX_ORPHANS) orphans.set(request.token, { key });
        if (!isStoreError(err) || err.code !== "store_unavailable" || config.onUnavailable === "reject") throw err;
        metrics.storeFallbacks.inc();
        logger.warn("store: redis unavailable, deduplicating in this replica only (onUnavailable: local)");
        result = await local.claim(key, request);
        if (result.outcome !== "exists") localTokens.add(request.token);
      }
      if (result.outcome !== "exists") hold(key, request);
      return result;
    },

    async get(key) {
      const journaled = journalGet(key);
      if (journaled) return journaled.record;
      try {
        return await remote.get(key);
      } catch (err) {
        if (!failed("get", err) || config.onUnavailable === "reject") throw err;
        return local.get(key);
      }
    },

    async complete(key, token, record, ttlMs, ledger) {
      if (localTokens.has(token)) {
        const done = await local.complete(key, token, record, ttlMs);
        // Share it once Redis is back: other replicas must see this answer too.
        if (done) await journalAppend(key, record, ttlMs, ledger);
        localTokens.delete(token);
        unhold(key, token);
        return done;
      }
      let done: boolean;
      try {
        done = await remote.complete(key, token, record, ttlMs, ledger);
      } catch (err) {
        if (!failed("complete", err)) throw err;
        // The gateway answered and Redis cannot take it: make it durable here first.
        await journalAppend(key, record, ttlMs, ledger);
        logger.warn({ backlog: journal.size() }, "store: redis unavailable, outcome journaled for write-back");
        done = true;
      }
      unhold(key, token);
      return done;
    },

    async renew(key, token, leaseMs) {
      const mine = held.get(key);
      if (mine?.token === token) mine.leaseUntil = Date.now() + leaseMs;
      if (localTokens.has(token)) return local.renew(key, token, leaseMs);
      try {
        return await remote.renew(key, token, leaseMs);
      } catch (err) {
        if (!failed("renew", err)) throw err;
        return false;
      }
    },

    async release(key, token, ledger) {
      try {
        if (localTokens.delete(token)) return await local.release(key, token);
        return await remote.release(key, token, ledger);
      } catch (err) {
        // Retried by maintenance once Redis answers (compare-and-set: harmless if moot).
        if (!failed("release", err)) throw err;
        if (orphans.size < MAX_ORPHANS) orphans.set(token, { key, ...(ledger ? { ledger } : {}) });
        return false;
      } finally {
        unhold(key, token);
      }
    },

    async inspect(key) {
      const journaled = journal.get(key);
      if (journaled) return journalEntry(journaled);
      try {
        return await remote.inspect(key);
      } catch (err) {
        if (!failed("inspect", err) || config.onUnavailable === "reject") throw err;
        return local.inspect(key);
      }
    },

    /**
     * This replica's journal first (answers not yet written back), then Redis, skipping keys
     * the journal holds: for those the journal is the truth. Other replicas' journals are not
     * seen from here.
     */
    async list({ state, limit, cursor }): Promise<ListPage> {
      type Position = { p: "j"; a?: string } | { p: "r"; r?: string };
      let at: Position =
        cursor === undefined
          ? { p: "j" }
          : decodeCursor<Position>(
              cursor,
              (v) => (v.p === "j" && (v.a === undefined || typeof v.a === "string")) || (v.p === "r" && (v.r === undefined || typeof v.r === "string")),
            );
      const entries: RecordEntry[] = [];
      if (at.p === "j") {
        const { page, last } = pageByKey(
          journal.entries().filter((e) => e.record.state === state),
          at.a,
          limit,
        );
        entries.push(...page.map(journalEntry));
        if (last !== undefined) return { entries, cursor: encodeCursor({ p: "j", a: last }) };
        at = { p: "r" };
      }
      if (entries.length === limit) return { entries, cursor: encodeCursor({ p: "r" }) };
      const rest = await remote.list({ state, limit: limit - entries.length, cursor: at.r });
      entries.push(...rest.entries.filter((e) => journal.get(e.key) === undefined && !entries.some((j) => j.key === e.key)));
      return rest.cursor === undefined ? { entries } : { entries, cursor: encodeCursor({ p: "r", r: rest.cursor }) };
    },

    resolve(key, next, ledger) {
      return inTurn(async () => {
        const journaled = journalGet(key);
        if (!journaled) return remote.resolve(key, next, ledger);
        // The journal is the truth for this key: an answer in it is final, and an
        // indeterminate record in it is resolved in Redis, then dropped from the journal.
        const record = journaled.record;
        if (record.state !== "indeterminate" || (next && next.fingerprint !== record.fingerprint)) return "not_indeterminate";
        const result = await remote.resolveJournaled(key, next, journaled.writtenAt + journaled.ttlMs - Date.now(), ledger);
        if (result === "resolved") await journal.remove(key);
        return result;
      });
    },

    ...(remote.outcomes ? { outcomes: remote.outcomes.bind(remote) } : {}),

    async waitForChange(key, timeoutMs) {
      // All bounded by the same short slice: the engine loops, so no timers pile up.
      const slice = Math.min(timeoutMs, MAINTENANCE_MS);
      await Promise.race([remote.waitForChange(key, slice), local.waitForChange(key, slice), settledHere.wait(key, slice)]);
    },

    stats() {
      const r = remote.stats();
      const l = local.stats();
      return { entries: l.entries + journal.size(), bytes: l.bytes, inFlight: r.inFlight + l.inFlight };
    },

    ready: () => !config.readiness || remote.healthy(),

    async close() {
      clearInterval(maintenance);
      settledHere.wakeAll();
      await writeBack().catch(() => {});
      await Promise.allSettled([remote.close(), local.close(), journal.close()]);
    },
  };
}
