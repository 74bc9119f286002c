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
  type ResolveResult,
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

/** The store; its records and rules are MemoryRecords' (below), each method bound here. */
export function createMemoryStore(options: MemoryStoreOptions): IdempotencyStore {
  const r = new MemoryRecords(options);
  return {
    claim: (key, request) => r.claim(key, request),
    get: (key) => r.get(key),
    complete: (key, token, record, ttlMs) => r.complete(key, token, record, ttlMs),
    renew: (key, token, leaseMs) => r.renew(key, token, leaseMs),
    release: (key, token) => r.release(key, token),
    waitForChange: (key, timeoutMs) => r.waiters.wait(key, timeoutMs),
    inspect: (key) => r.inspect(key),
    list: (request) => r.list(request),
    resolve: (key, next) => r.resolve(key, next),
    stats: () => r.stats(),
    close: () => r.close(),
  };
}

class MemoryRecords {
  readonly waiters = new Waiters();
  private readonly now: () => number;
  private readonly final: LRUCache<string, FinalRecord>;
  private readonly inFlight = new Map<string, InFlightRecord>();
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly options: MemoryStoreOptions) {
    this.now = options.now ?? Date.now;
    this.final = new LRUCache<string, FinalRecord>({
      max: options.maxEntries,
      maxSize: options.maxSize,
      sizeCalculation: sizeOf,
      ttlAutopurge: false,
      allowStale: false,
      dispose: (_value, _key, reason) => {
        if (reason === "evict") options.onEvict?.();
      },
    });
    // Forget in-flight records abandoned past their ttl (an owner that vanished, nobody retried).
    this.sweep = setInterval(() => {
      const t = this.now();
      for (const [key, record] of this.inFlight) if (record.expiresAt <= t) this.inFlight.delete(key);
    }, 60_000);
    this.sweep.unref();
  }

  async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const t = this.now();
    const existing = this.inFlight.get(key);
    const fresh = inFlightRecord(request, t);
    if (existing && existing.expiresAt > t) {
      if (existing.leaseUntil > t) return { outcome: "exists", record: existing };
      this.inFlight.set(key, fresh);
      return { outcome: "taken-over", previous: existing };
    }
    const done = this.final.get(key);
    if (done) return { outcome: "exists", record: done };
    if (this.inFlight.size >= this.options.maxEntries) {
      throw new StoreError("store_full", `memory store holds ${this.inFlight.size} in-flight records (store.maxEntries)`);
    }
    this.inFlight.set(key, fresh);
    return { outcome: "claimed" };
  }

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    return this.liveInFlight(key) ?? this.final.get(key);
  }

  async complete(key: string, token: string, record: FinalRecord, ttlMs: number): Promise<boolean> {
    if (!this.owned(key, token)) return false;
    // A record that cannot fit must never free the key: keep an indeterminate marker instead.
    const fits = sizeOf(record) <= this.options.maxSize;
    const kept: FinalRecord = fits ? record : tooLarge(record);
    this.inFlight.delete(key);
    this.final.set(key, kept, { ttl: ttlMs });
    this.waiters.wake(key);
    if (!fits) throw new StoreError("store_full", `record of ${sizeOf(record)} bytes does not fit store.maxSize; kept as indeterminate`);
    return true;
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    const record = this.owned(key, token);
    if (!record) return false;
    // The expiry moves with the lease: a record its owner renews is never forgotten.
    Object.assign(record, renewedLease(record, this.now(), leaseMs));
    return true;
  }

  async release(key: string, token: string): Promise<boolean> {
    if (!this.owned(key, token)) return false;
    this.inFlight.delete(key);
    this.waiters.wake(key);
    return true;
  }

  async inspect(key: string): Promise<RecordEntry | undefined> {
    const record = this.liveInFlight(key);
    if (record) return { key, record, expiresAt: record.expiresAt, source: "memory" };
    const done = this.final.peek(key);
    return done && this.entryOf(key, done);
  }

  async list({ state, limit, cursor }: Parameters<IdempotencyStore["list"]>[0]): ReturnType<IdempotencyStore["list"]> {
    const after = cursor === undefined ? undefined : decodeCursor<{ a: string }>(cursor, (v) => typeof v.a === "string").a;
    const t = this.now();
    const matching: RecordEntry[] = [];
    if (state === "in-flight") {
      for (const [key, record] of this.inFlight) if (record.expiresAt > t) matching.push({ key, record, expiresAt: record.expiresAt, source: "memory" });
    } else {
      // entries() skips expired records and, unlike get(), leaves their recency alone.
      for (const [key, record] of this.final.entries()) if (record.state === state) matching.push(this.entryOf(key, record));
    }
    const { page, last } = pageByKey(matching, after, limit);
    return last === undefined ? { entries: page } : { entries: page, cursor: encodeCursor({ a: last }) };
  }

  async resolve(key: string, next: Parameters<IdempotencyStore["resolve"]>[1]): Promise<ResolveResult> {
    const held = this.liveInFlight(key) ?? this.final.peek(key);
    const verdict = resolveVerdict(held, held?.state === "in-flight" && held.leaseUntil > this.now(), next);
    if (verdict !== "resolve") return verdict;
    if (next) {
      // Checked before anything changes: an answer lru-cache cannot hold would free the key.
      if (sizeOf(next) > this.options.maxSize) throw new StoreError("store_full", `record of ${sizeOf(next)} bytes does not fit store.maxSize`);
      const remaining = this.final.getRemainingTTL(key);
      this.final.set(key, next, Number.isFinite(remaining) ? { ttl: Math.max(1, Math.ceil(remaining)) } : {});
    } else {
      this.final.delete(key);
    }
    this.waiters.wake(key);
    return "resolved";
  }

  stats(): StoreStats {
    return { entries: this.final.size + this.inFlight.size, bytes: this.final.calculatedSize, inFlight: this.inFlight.size };
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    this.waiters.wakeAll();
  }

  private liveInFlight(key: string): InFlightRecord | undefined {
    const record = this.inFlight.get(key);
    return record && record.expiresAt > this.now() ? record : undefined;
  }

  private owned(key: string, token: string): InFlightRecord | undefined {
    const record = this.inFlight.get(key);
    return record && record.token === token ? record : undefined;
  }

  private entryOf(key: string, record: FinalRecord): RecordEntry {
    const remaining = this.final.getRemainingTTL(key);
    return Number.isFinite(remaining) ? { key, record, expiresAt: Date.now() + remaining, source: "memory" } : { key, record, source: "memory" };
  }
}

/** The marker kept for an answer too large for store.maxSize: the key stays taken. */
function tooLarge(record: FinalRecord): FinalRecord {
  return {
    state: "indeterminate",
    fingerprint: record.fingerprint,
    createdAt: record.createdAt,
    completedAt: record.completedAt,
    reason: "response too large for store.maxSize",
    ...(record.attempts === undefined ? {} : { attempts: record.attempts }),
    ...(record.about === undefined ? {} : { about: record.about }),
  };
}

/** Approximate bytes a record holds: body, headers and a fixed overhead. */
function sizeOf(record: FinalRecord): number {
  const about = record.about ? record.about.key.length + record.about.path.length : 0;
  if (record.state !== "completed") return 256 + about;
  let size = 256 + about + record.response.body.length;
  for (const [name, value] of Object.entries(record.response.headers)) {
    size += name.length + (Array.isArray(value) ? value.reduce((n, v) => n + v.length, 0) : value.length);
  }
  return size;
}
