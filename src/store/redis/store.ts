/**
 * The shared store: idempotency records in Redis (single node, Sentinel or Cluster), so a
 * client's retry that lands on another replica is answered exactly as on the first.
 *
 * - Reads go through keyv + @keyv/redis, created so that errors throw: a swallowed store
 *   error would skip the idempotency check and let a payment through twice.
 * - Every write is a Lua script on one key (scripts.ts), run by the Redis client directly:
 *   the claim is `SET NX PX` with an owner token (or a takeover of an in-flight record whose
 *   lease has run out, judged by the Redis server's clock), and complete / renew / release
 *   are compare-and-set on the owner token — a paused or crashed replica can never
 *   overwrite another's result.
 * - One key per record (`<prefix>:{<lookup key>}`): every script touches one key, so they
 *   stay valid in Redis Cluster.
 * - With `replication`, a claim, completion, renewal or resolution counts only once WAIT
 *   says that many replicas have it: Redis replicates asynchronously, and a failover to a
 *   replica that never got an acknowledged claim would let the same payment through again.
 *   Too few acknowledgements are a store error (a claim is released first, best effort).
 * - Completions and releases are published; waiters are woken by the message, with a
 *   bounded poll as the fallback for a missed one.
 * - Every operation has a deadline (`store.operationTimeout`); a disconnected client fails
 *   at once (no offline queue). Failures surface as StoreError("store_unavailable").
 */
import type { ClaimRequest, ClaimResult, CompletedRecord, InFlightRecord, RecordEntry, RemoteStore, ResolveResult, StoreStats } from "../types.js";
import { StoreError } from "../types.js";
import { Waiters } from "../waiters.js";
import { openRedis, type RedisTopology } from "./connection.js";
import { listRecords } from "./list.js";
import { CLAIM, COMPLETE, INSPECT, PUT_FINAL, RELEASE, RENEW, RESOLVE } from "./scripts.js";
import { decodeRecord, envelopeOf, parseEnvelope } from "./wire.js";

export interface RedisStoreOptions extends RedisTopology {
  prefix: string;
  /** longest a waiter sleeps between checks if a wake-up message is missed */
  pollFallbackMs?: number;
  /** writes count once this many replicas acknowledged them within timeoutMs (WAIT); unset: at once */
  replication?: { replicas: number; timeoutMs: number } | undefined;
  onError?: (err: unknown) => void;
}

export async function createRedisStore(options: RedisStoreOptions): Promise<RemoteStore> {
  const { replication } = options;
  const connection = openRedis(options, options.onError ?? (() => {}));
  const channel = `${options.prefix}:changes`;
  const keyOf = (key: string) => `${options.prefix}:{${key}}`;
  const waiters = new Waiters();
  let healthy = false;

  /** Runs a store operation under the deadline; any failure becomes store_unavailable. */
  const op = async <T>(name: string, fn: () => Promise<T>, deadlineMs = options.operationTimeout): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis ${name} timed out after ${deadlineMs}ms`)), deadlineMs);
        }),
      ]);
      healthy = true;
      return result;
    } catch (err) {
      healthy = false;
      if (err instanceof StoreError) throw err;
      throw new StoreError("store_unavailable", `redis ${name} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  };
  const run = (name: string, script: string, key: string, args: string[]) => op(name, () => connection.eval(script, keyOf(key), args));

  /** Throws unless the configured number of replicas acknowledged this connection's writes. */
  const replicated = async (name: string, key: string) => {
    if (!replication) return;
    const { replicas, timeoutMs } = replication;
    const acks = await op(`${name} (WAIT)`, () => connection.acknowledged(keyOf(key), replicas, timeoutMs), timeoutMs + options.operationTimeout);
    if (acks >= replicas) return;
    healthy = false;
    throw new StoreError("store_unavailable", `redis ${name}: ${acks} of ${replicas} replicas acknowledged within ${timeoutMs}ms`);
  };

  const inspectRaw = (key: string) => connection.eval(INSPECT, keyOf(key), []) as Promise<[string, number] | null>;
  const entryOf = (key: string, [text, pttl]: [string, number]): RecordEntry => {
    const record = parseEnvelope(text);
    return Number(pttl) > 0 ? { key, record, expiresAt: Date.now() + Number(pttl), source: "redis" } : { key, record, source: "redis" };
  };
  const inspect = async (key: string): Promise<RecordEntry | undefined> => {
    const found = await op("inspect", () => inspectRaw(key));
    return found ? entryOf(key, found) : undefined;
  };
  const runResolve = async (key: string, next: CompletedRecord | undefined, accept: "indeterminate" | "not-completed", ttlMs?: number) => {
    const envelope = next ? envelopeOf(next) : "";
    const args = [envelope, channel, accept, next?.fingerprint ?? "", ttlMs === undefined ? "" : String(Math.max(1, Math.ceil(ttlMs)))];
    const result = String(await run("resolve", RESOLVE, key, args)) as ResolveResult;
    if (result === "resolved") await replicated("resolve", key);
    return result;
  };

  // Connect in the background: while Redis is unreachable every operation fails at once
  // with store_unavailable (and /readyz says so); the client keeps reconnecting.
  // At start, give the first connection a moment, so the first requests do not fail needlessly.
  const connected = connection
    .connect(channel, (message) => waiters.wake(message))
    .then(() => {
      healthy = true;
    }, options.onError);
  await Promise.race([connected, new Promise((resolve) => setTimeout(resolve, Math.max(1000, 4 * options.operationTimeout)).unref())]);

  return {
    async claim(key, request: ClaimRequest): Promise<ClaimResult> {
      const args = [request.token, request.fingerprint, String(request.leaseMs), String(request.ttlMs)];
      const [outcome, text] = (await run("claim", CLAIM, key, args)) as [string, string];
      if (outcome === "exists") return { outcome: "exists", record: parseEnvelope(text) };
      await replicated("claim", key).catch(async (err) => {
        await connection.eval(RELEASE, keyOf(key), [request.token, channel]).catch(() => {});
        throw err;
      });
      return outcome === "claimed" ? { outcome: "claimed" } : { outcome: "taken-over", previous: parseEnvelope(text) as InFlightRecord };
    },

    async get(key) {
      const wire = await op("get", () => connection.keyv.get(keyOf(key)));
      return wire === undefined ? undefined : decodeRecord(wire);
    },

    async complete(key, token, record, ttlMs) {
      const result = await run("complete", COMPLETE, key, [token, envelopeOf(record), String(ttlMs), channel]);
      if (Number(result) !== 1) return false;
      await replicated("complete", key);
      return true;
    },

    async putFinal(key, record, ttlMs) {
      const result = Number(await run("put", PUT_FINAL, key, [envelopeOf(record), String(ttlMs), channel, record.state]));
      if (result === -1) return "busy";
      // Also when superseded: the journal lets the answer go only once the replicas have the record.
      await replicated("put", key);
      return result === 1 ? "written" : "superseded";
    },

    async renew(key, token, leaseMs) {
      if (Number(await run("renew", RENEW, key, [token, String(leaseMs)])) !== 1) return false;
      await replicated("renew", key);
      return true;
    },

    // No WAIT: a release lost in a failover leaves the key in flight until its lease runs
    // out — a repeat waits or gets 409, never a second charge.
    async release(key, token) {
      const result = await run("release", RELEASE, key, [token, channel]);
      return Number(result) === 1;
    },

    inspect,
    list: (request) => listRecords({ prefix: options.prefix, scanners: connection.scanners, inspectRaw, entryOf, op }, request),

    resolve: (key, next) => runResolve(key, next, "indeterminate"),

    resolveJournaled: (key, next, ttlMs) => runResolve(key, next, "not-completed", ttlMs),

    waitForChange(key, timeoutMs) {
      // Wake at the latest after the poll fallback, so a missed message costs a bounded delay.
      return waiters.wait(keyOf(key), Math.min(timeoutMs, options.pollFallbackMs ?? 1000));
    },

    /** Redis holds the records; this replica's in-flight share is counted around it (shared/counted.ts). */
    stats(): StoreStats {
      return { entries: 0, bytes: 0, inFlight: 0 };
    },

    healthy: () => healthy,

    async ping() {
      try {
        await op("ping", () => connection.keyv.get(keyOf("health")));
        return true;
      } catch {
        return false;
      }
    },

    async close() {
      waiters.wakeAll();
      await connection.close();
    },
  };
}
