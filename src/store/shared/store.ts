/**
 * A remote store (Redis, PostgreSQL) as payguard uses it: the remote store for every record,
 * the local journal for answers it could not take, and (only with `onUnavailable: local`) the
 * memory store while it is down.
 *
 * Consistency over availability:
 * - the store down at claim time → store_unavailable (503, nothing sent), unless the operator
 *   chose `local`: then keys are deduplicated by this replica only, logged and counted.
 * - the gateway has already answered and its completion did not commit (the store down, or
 *   any other failure of the write) → the answer is appended to the journal (fsync'd) before
 *   the client gets it, served from there to repeats on this replica, and written back as soon
 *   as the store takes it (and at start).
 *
 * Operator resolutions (admin API) and write-back run one at a time: a journaled
 * indeterminate record the operator resolved is dropped from the journal in the same turn,
 * so a later write-back can never put it back over the operator's answer (or revive it
 * after a release).
 */
import type { StoreConfig } from "../../config/schema.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics/registry.js";
import { cipherFor } from "../crypto.js";
import { createMemoryStore } from "../memory.js";
import { resolveVerdict } from "../resolve-rule.js";
import { sealedStore } from "../sealing.js";
import { type ClaimResult, type IdempotencyStore, isStoreError, type RemoteStore } from "../types.js";
import { Backlog } from "./backlog.js";
import { countedClaims } from "./counted.js";
import { Holds } from "./holds.js";
import { listShared } from "./list.js";
import { Maintenance } from "./maintenance.js";

export interface ReadyStore extends IdempotencyStore {
  /** false while the store cannot serve claims (for /readyz) */
  ready(): boolean;
}

/** How often the journal is written back and the store's health is checked. */
const MAINTENANCE_MS = 1000;
/** Bound on journaled keys remembered with their owner token (beyond it, written back once the lease runs out). */
const MAX_OWNED = 10_000;

export async function createSharedStore(backend: RemoteStore, config: StoreConfig, deps: { metrics: Metrics; logger: Logger }): Promise<ReadyStore> {
  const { metrics, logger } = deps;
  // One cipher for the backend's records and the journal's (encryption at rest, sealing.ts).
  const cipher = cipherFor(config.encryption.key);
  const remote = countedClaims(sealedStore(backend, cipher));
  const backlog = await Backlog.open(config.journal, cipher, deps);
  const local = createMemoryStore({ maxEntries: config.maxEntries, maxSize: config.maxSize });
  const holds = new Holds();
  /** tokens whose claim lives in the local store (the remote store was down when they claimed) */
  const localTokens = new Set<string>();

  /** Write-back and operator resolutions, one at a time (see the header). */
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn);
    turn = run.catch(() => {});
    return run;
  };
  /**
   * Journaled keys whose claim this process still holds (key → owner token): their write-back
   * completes them by that token, as soon as the store takes it, not a lease later — other
   * replicas wait on (or take over) a claim in flight until then.
   */
  const owned = new Map<string, string>();
  const writeBack = () =>
    inTurn(async () => {
      await backlog.writeBack(remote, owned);
      for (const key of owned.keys()) if (!backlog.has(key)) owned.delete(key);
    });
  // A failed health check counts as any failed operation: a failover it alone noticed (the
  // pool moved to the new primary before any request failed) still shows.
  const maintenance = new Maintenance(remote, writeBack, logger, MAINTENANCE_MS, () => metrics.storeErrors.inc({ op: "ping" }));

  /** Counts a store_unavailable failure; false for any other error (rethrown by the caller). */
  const failed = (op: string, err: unknown): boolean => {
    if (!isStoreError(err) || err.code !== "store_unavailable") return false;
    metrics.storeErrors.inc({ op });
    return true;
  };
  /** With `onUnavailable: local`, a read the remote store cannot serve goes to the local store. */
  const orLocal = async <T>(op: string, remoteRead: () => Promise<T>, localRead: () => Promise<T>): Promise<T> => {
    try {
      return await remoteRead();
    } catch (err) {
      if (!failed(op, err) || config.onUnavailable === "reject") throw err;
      return localRead();
    }
  };

  return {
    async claim(key, request): Promise<ClaimResult> {
      // An answer waiting in the journal is the truth for this key.
      const journaled = backlog.get(key);
      if (journaled) return { outcome: "exists", record: journaled.record };
      const mine = holds.live(key);
      if (mine) return { outcome: "exists", record: mine };
      if (backlog.full()) {
        metrics.storeErrors.inc({ op: "claim" });
        throw backlog.fullError();
      }
      let result: ClaimResult;
      try {
        result = await remote.claim(key, request);
      } catch (err) {
        // The claim may still have reached the store after our deadline: free it once the store answers.
        if (failed("claim", err)) maintenance.orphan(request.token, key);
        if (!isStoreError(err) || err.code !== "store_unavailable" || config.onUnavailable === "reject") throw err;
        metrics.storeFallbacks.inc();
        logger.warn("store: unavailable, deduplicating in this replica only (onUnavailable: local)");
        result = await local.claim(key, request);
        if (result.outcome !== "exists") localTokens.add(request.token);
      }
      if (result.outcome !== "exists") holds.hold(key, request);
      return result;
    },

    get(key) {
      const journaled = backlog.get(key);
      if (journaled) return Promise.resolve(journaled.record);
      return orLocal(
        "get",
        () => remote.get(key),
        () => local.get(key),
      );
    },

    async complete(key, token, record, ttlMs, ledger) {
      if (localTokens.has(token)) {
        const done = await local.complete(key, token, record, ttlMs);
        // Share it once the store is back: other replicas must see this answer too.
        if (done) await backlog.append(key, record, ttlMs, ledger);
        localTokens.delete(token);
        holds.unhold(key, token);
        return done;
      }
      let done: boolean;
      try {
        done = await remote.complete(key, token, record, ttlMs, ledger);
      } catch (err) {
        // The gateway answered and the store did not take it — down, or up and this write failed
        // (a statement cancelled or timed out, a value refused): make it durable here first. Only
        // an answer in the journal outlives this process; write-back never overwrites a completed one.
        if (!failed("complete", err)) metrics.storeErrors.inc({ op: "complete" });
        await backlog.append(key, record, ttlMs, ledger);
        if (owned.size < MAX_OWNED) owned.set(key, token);
        logger.warn({ backlog: backlog.size(), err: String(err) }, "store: the completion did not commit; outcome journaled for write-back");
        done = true;
      }
      holds.unhold(key, token);
      return done;
    },

    async renew(key, token, leaseMs) {
      holds.renew(key, token, leaseMs);
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
        // Retried by maintenance once the store answers.
        if (!failed("release", err)) throw err;
        maintenance.orphan(token, key, ledger);
        return false;
      } finally {
        holds.unhold(key, token);
      }
    },

    inspect(key) {
      const journaled = backlog.find(key);
      if (journaled) return Promise.resolve(journaled);
      return orLocal(
        "inspect",
        () => remote.inspect(key),
        () => local.inspect(key),
      );
    },

    list: (request) => listShared(backlog, remote, request),

    resolve(key, next, ledger) {
      return inTurn(async () => {
        const journaled = backlog.get(key);
        if (!journaled) return remote.resolve(key, next, ledger);
        // The journal is the truth for this key: an answer in it is final, and an
        // indeterminate record in it is resolved in the store, then dropped from the journal.
        const verdict = resolveVerdict(journaled.record, false, next);
        if (verdict !== "resolve") return verdict;
        const result = await remote.resolveJournaled(key, next, journaled.writtenAt + journaled.ttlMs - Date.now(), ledger);
        if (result === "resolved") {
          await backlog.remove(key);
          owned.delete(key);
        }
        return result;
      });
    },

    ...(remote.outcomes ? { outcomes: remote.outcomes.bind(remote) } : {}),

    async waitForChange(key, timeoutMs) {
      // All bounded by the same short slice: the engine loops, so no timers pile up.
      const slice = Math.min(timeoutMs, MAINTENANCE_MS);
      await Promise.race([remote.waitForChange(key, slice), local.waitForChange(key, slice), holds.waitForSettle(key, slice)]);
    },

    stats() {
      const r = remote.stats();
      const l = local.stats();
      return { entries: l.entries + backlog.size(), bytes: l.bytes, inFlight: r.inFlight + l.inFlight };
    },

    ready: () => !config.readiness || remote.healthy(),

    async close() {
      maintenance.stop();
      holds.wakeAll();
      await writeBack().catch(() => {});
      await Promise.allSettled([remote.close(), local.close(), backlog.close()]);
    },
  };
}
