/**
 * The embedded store: one process, no I/O. Final records live in an lru-cache bounded by
 * `store.maxEntries` and `store.maxSize`; in-flight records live apart in a Map, so LRU
 * pressure can never evict a request that is still running. JavaScript runs one callback
 * at a time, so each method body is atomic.
 */
import { LRUCache } from "lru-cache";
import type { StoreConfig } from "../config/schema.js";
import { decodeCursor, encodeCursor, pageByKey } from "./cursor.js";
import { resolveVerdict } from "./resolve-rule.js";
import {
  type ClaimRequest,
  type ClaimResult,
  type FinalRecord,
  type IdempotencyRecord,
  type IdempotencyStore,
  type InFlightRecord,
  inFlightRecord,
  type RecordEntry,
  renewedLease,
  StoreError,
  type StoreStats,
} from "./types.js";
import { Waiters } from "./waiters.js";

export interface MemoryStoreOptions extends Pick<StoreConfig, "maxEntries" | "maxSize"> {
  /** called when a final record is evicted under pressure (metrics) */
  onEvict?: () => void;
  now?: () => number;
}

export function createMemoryStore(options: MemoryStoreOptions): IdempotencyStore {
  const now = options.now ?? Date.now;
  const final = new LRUCache<string, FinalRecord>({
    max: options.maxEntries,
    maxSize: options.maxSize,
    sizeCalculation: sizeOf,
    ttlAutopurge: false,
    allowStale: false,
    dispose: (_value, _key, reason) => {
      if (reason === "evict") options.onEvict?.();
    },
  });
  const inFlight = new Map<string, InFlightRecord>();
  const waiters = new Waiters();
  const wake = (key: string) => waiters.wake(key);
  const owned = (key: string, token: string): InFlightRecord | undefined => {
    const record = inFlight.get(key);
    return record && record.token === token ? record : undefined;
  };

  // Forget in-flight records abandoned past their ttl (an owner that vanished, nobody retried).
  const sweep = setInterval(() => {
    const t = now();
    for (const [key, record] of inFlight) if (record.expiresAt <= t) inFlight.delete(key);
  }, 60_000);
  sweep.unref();

  return {
    async claim(key, request: ClaimRequest): Promise<ClaimResult> {
      const t = now();
      const existing = inFlight.get(key);
      const fresh = inFlightRecord(request, t);
      if (existing && existing.expiresAt > t) {
        if (existing.leaseUntil > t) return { outcome: "exists", record: existing };
        inFlight.set(key, fresh);
        return { outcome: "taken-over", previous: existing };
      }
      const done = final.get(key);
      if (done) return { outcome: "exists", record: done };
      if (inFlight.size >= options.maxEntries) {
        throw new StoreError("store_full", `memory store holds ${inFlight.size} in-flight records (store.maxEntries)`);
      }
      inFlight.set(key, fresh);
      return { outcome: "claimed" };
    },

    async get(key): Promise<IdempotencyRecord | undefined> {
      const record = inFlight.get(key);
      if (record && record.expiresAt > now()) return record;
      return final.get(key);
    },

    async complete(key, token, record, ttlMs) {
      if (!owned(key, token)) return false;
      // A record that cannot fit must never free the key: keep an indeterminate marker instead.
      const fits = sizeOf(record) <= options.maxSize;
      const kept: FinalRecord = fits
        ? record
        : {
            state: "indeterminate",
            fingerprint: record.fingerprint,
            createdAt: record.createdAt,
            completedAt: record.completedAt,
            reason: "response too large for store.maxSize",
          };
      inFlight.delete(key);
      final.set(key, kept, { ttl: ttlMs });
      wake(key);
      if (!fits) throw new StoreError("store_full", `record of ${sizeOf(record)} bytes does not fit store.maxSize; kept as indeterminate`);
      return true;
    },

    async renew(key, token, leaseMs) {
      const record = owned(key, token);
      if (!record) return false;
      // The expiry moves with the lease: a record its owner renews is never forgotten.
      Object.assign(record, renewedLease(record, now(), leaseMs));
      return true;
    },

    async release(key, token) {
      if (!owned(key, token)) return false;
      inFlight.delete(key);
      wake(key);
      return true;
    },

    waitForChange(key, timeoutMs) {
      return waiters.wait(key, timeoutMs);
    },

    async inspect(key) {
      const record = inFlight.get(key);
      if (record && record.expiresAt > now()) return { key, record, expiresAt: record.expiresAt, source: "memory" };
      const done = final.peek(key);
      return done && entryOf(key, done);
    },

    async list({ state, limit, cursor }) {
      const after = cursor === undefined ? undefined : decodeCursor<{ a: string }>(cursor, (v) => typeof v.a === "string").a;
      const t = now();
      const matching: RecordEntry[] = [];
      if (state === "in-flight") {
        for (const [key, record] of inFlight) if (record.expiresAt > t) matching.push({ key, record, expiresAt: record.expiresAt, source: "memory" });
      } else {
        // entries() skips expired records and, unlike get(), leaves their recency alone.
        for (const [key, record] of final.entries()) if (record.state === state) matching.push(entryOf(key, record));
      }
      const { page, last } = pageByKey(matching, after, limit);
      return last === undefined ? { entries: page } : { entries: page, cursor: encodeCursor({ a: last }) };
    },

    async resolve(key, next) {
      const live = inFlight.get(key);
      const held = live && live.expiresAt > now() ? live : final.peek(key);
      const verdict = resolveVerdict(held, held?.state === "in-flight" && held.leaseUntil > now(), next);
      if (verdict !== "resolve") return verdict;
      if (next) {
        // Checked before anything changes: an answer lru-cache cannot hold would free the key.
        if (sizeOf(next) > options.maxSize) throw new StoreError("store_full", `record of ${sizeOf(next)} bytes does not fit store.maxSize`);
        const remaining = final.getRemainingTTL(key);
        final.set(key, next, Number.isFinite(remaining) ? { ttl: Math.max(1, Math.ceil(remaining)) } : {});
      } else {
        final.delete(key);
      }
      wake(key);
      return "resolved";
    },

    stats(): StoreStats {
      return { entries: final.size + inFlight.size, bytes: final.calculatedSize, inFlight: inFlight.size };
    },

    async close() {
      clearInterval(sweep);
      waiters.wakeAll();
    },
  };

  function entryOf(key: string, record: FinalRecord): RecordEntry {
    const remaining = final.getRemainingTTL(key);
    return Number.isFinite(remaining) ? { key, record, expiresAt: Date.now() + remaining, source: "memory" } : { key, record, source: "memory" };
  }
}

/** Approximate bytes a record holds: body, headers and a fixed overhead. */
function sizeOf(record: FinalRecord): number {
  if (record.state !== "completed") return 256;
  let size = 256 + record.response.body.length;
  for (const [name, value] of Object.entries(record.response.headers)) {
    size += name.length + (Array.isArray(value) ? value.reduce((n, v) => n + v.length, 0) : value.length);
  }
  return size;
}
