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
import type { ClaimRequest, ClaimResult, CompletedRecord, InFlightRecord, RecordEntry, RemoteStore, ResolveResult } from "../types.js";
import { Waiters } from "../waiters.js";
import { openRedis, type RedisConnection, type RedisTopology } from "./connection.js";
import { listRecords } from "./list.js";
import { RedisOps } from "./ops.js";
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
  const connection = openRedis(options, options.onError ?? (() => {}));
  const at: Where = { connection, ops: new RedisOps(connection, options), channel: `${options.prefix}:changes` };
  const waiters = new Waiters();
  // Connect in the background: while Redis is unreachable every operation fails at once
  // with store_unavailable (and /readyz says so); the client keeps reconnecting.
  // At start, give the first connection a moment, so the first requests do not fail needlessly.
  const connected = connection
    .connect(at.channel, (message) => waiters.wake(message))
    .then(() => {
      at.ops.healthy = true;
    }, options.onError);
  await Promise.race([connected, new Promise((resolve) => setTimeout(resolve, Math.max(1000, 4 * options.operationTimeout)).unref())]);
  return {
    ...writes(at),
    ...reads(at, options.prefix),
    // Wake at the latest after the poll fallback, so a missed message costs a bounded delay.
    waitForChange: (key, timeoutMs) => waiters.wait(at.ops.keyOf(key), Math.min(timeoutMs, options.pollFallbackMs ?? 1000)),
    // Redis holds the records; this replica's in-flight share is counted around it (shared/counted.ts).
    stats: () => ({ entries: 0, bytes: 0, inFlight: 0 }),
    healthy: () => at.ops.healthy,
    async ping() {
      return at.ops
        .op("ping", () => connection.keyv.get(at.ops.keyOf("health")))
        .then(
          () => true,
          () => false,
        );
    },
    async close() {
      waiters.wakeAll();
      await connection.close();
    },
  };
}

/** What every operation of one store needs: the client, how to run an operation, the change channel. */
interface Where {
  connection: RedisConnection;
  ops: RedisOps;
  channel: string;
}

/** The writes: each a compare-and-set script on one key (scripts.ts), then WAIT where configured. */
function writes({ connection, ops, channel }: Where): Pick<RemoteStore, "claim" | "complete" | "putFinal" | "renew" | "release"> {
  return {
    async claim(key, request: ClaimRequest): Promise<ClaimResult> {
      const args = [request.token, request.fingerprint, String(request.leaseMs), String(request.ttlMs), request.about ? JSON.stringify(request.about) : ""];
      const [outcome, text] = (await ops.run("claim", CLAIM, key, args)) as [string, string];
      if (outcome === "exists") return { outcome: "exists", record: parseEnvelope(text) };
      await ops.replicated("claim", key).catch(async (err) => {
        await connection.eval(RELEASE, ops.keyOf(key), [request.token, channel]).catch(() => {});
        throw err;
      });
      return outcome === "claimed" ? { outcome: "claimed" } : { outcome: "taken-over", previous: parseEnvelope(text) as InFlightRecord };
    },
    async complete(key, token, record, ttlMs) {
      const result = await ops.run("complete", COMPLETE, key, [token, envelopeOf(record), String(ttlMs), channel]);
      if (Number(result) !== 1) return false;
      await ops.replicated("complete", key);
      return true;
    },
    async putFinal(key, record, ttlMs) {
      const result = Number(await ops.run("put", PUT_FINAL, key, [envelopeOf(record), String(ttlMs), channel, record.state]));
      if (result === -1) return "busy";
      // Also when superseded: the journal lets the answer go only once the replicas have the record.
      await ops.replicated("put", key);
      return result === 1 ? "written" : "superseded";
    },
    async renew(key, token, leaseMs) {
      if (Number(await ops.run("renew", RENEW, key, [token, String(leaseMs)])) !== 1) return false;
      await ops.replicated("renew", key);
      return true;
    },
    // No WAIT: a release lost in a failover leaves the key in flight until its lease runs
    // out — a repeat waits or gets 409, never a second charge.
    async release(key, token) {
      return Number(await ops.run("release", RELEASE, key, [token, channel])) === 1;
    },
  };
}

/** The reads, and an operator's resolutions (RESOLVE: the rule of ../resolve-rule.ts in Lua). */
function reads({ connection, ops, channel }: Where, prefix: string): Pick<RemoteStore, "get" | "inspect" | "list" | "resolve" | "resolveJournaled"> {
  const inspectRaw = (key: string) => connection.eval(INSPECT, ops.keyOf(key), []) as Promise<[string, number] | null>;
  const resolve = async (key: string, next: CompletedRecord | undefined, accept: "indeterminate" | "not-completed", ttlMs?: number) => {
    const args = [next ? envelopeOf(next) : "", channel, accept, next?.fingerprint ?? "", ttlMs === undefined ? "" : String(Math.max(1, Math.ceil(ttlMs)))];
    const result = String(await ops.run("resolve", RESOLVE, key, args)) as ResolveResult;
    if (result === "resolved") await ops.replicated("resolve", key);
    return result;
  };
  const op = <T>(name: string, fn: () => Promise<T>) => ops.op(name, fn);
  return {
    async get(key) {
      const wire = await ops.op("get", () => connection.keyv.get(ops.keyOf(key)));
      return wire === undefined ? undefined : decodeRecord(wire);
    },
    async inspect(key) {
      const found = await ops.op("inspect", () => inspectRaw(key));
      return found ? entryOf(key, found) : undefined;
    },
    list: (request) => listRecords({ prefix, scanners: connection.scanners, inspectRaw, entryOf, op }, request),
    resolve: (key, next) => resolve(key, next, "indeterminate"),
    resolveJournaled: (key, next, ttlMs) => resolve(key, next, "not-completed", ttlMs),
  };
}

function entryOf(key: string, [text, pttl]: [string, number]): RecordEntry {
  const record = parseEnvelope(text);
  return Number(pttl) > 0 ? { key, record, expiresAt: Date.now() + Number(pttl), source: "redis" } : { key, record, source: "redis" };
}
