/**
 * The shared store: idempotency records in Redis (single node or Cluster), so a client's
 * retry that lands on another replica is answered exactly as on the first.
 *
 * - Reads go through keyv + @keyv/redis, created so that errors throw: a swallowed store
 *   error would skip the idempotency check and let a payment through twice.
 * - Every write is a Lua script on one key, run by the Redis client directly: the claim is
 *   `SET NX PX` with an owner token (or a takeover of an in-flight record whose lease has
 *   run out, judged by the Redis server's clock), and complete / renew / release are
 *   compare-and-set on the owner token — a paused or crashed replica can never overwrite
 *   another's result.
 * - One key per record (`<prefix>:{<lookup key>}`): every script touches one key, so they
 *   stay valid in Redis Cluster.
 * - Listings (admin API) SCAN `<prefix>:{*}` on the node, or on each master of a Cluster;
 *   an operator's resolution of an indeterminate record is one more compare-and-set script.
 * - Completions and releases are published; waiters are woken by the message, with a
 *   bounded poll as the fallback for a missed one.
 * - Every operation has a deadline (`store.operationTimeout`); a disconnected client fails
 *   at once (no offline queue). Failures surface as StoreError("store_unavailable").
 */
import KeyvRedis, { createClient, createCluster, createSentinel, Keyv, type RedisClientType, type RedisClusterType } from "@keyv/redis";
import type { Cipher } from "./crypto.js";
import { decodeCursor, encodeCursor } from "./cursor.js";
import {
  type ClaimRequest,
  type ClaimResult,
  type CompletedRecord,
  type FinalRecord,
  type IdempotencyRecord,
  type InFlightRecord,
  type ListPage,
  type RecordEntry,
  type RemoteStore,
  type ResolveResult,
  type StoredResponse,
  StoreError,
  type StoreStats,
} from "./types.js";
import { Waiters } from "./waiters.js";

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL (single node) */
  url?: string;
  /** cluster seed nodes as redis:// URLs */
  clusterNodes?: string[];
  /** Sentinel: the monitored master's name and sentinel nodes as redis:// URLs */
  sentinel?: { name: string; nodes: string[] };
  prefix: string;
  operationTimeout: number;
  /** seals stored responses (headers and body) when set */
  cipher?: Cipher | undefined;
  /** longest a waiter sleeps between checks if a wake-up message is missed */
  pollFallbackMs?: number;
  onError?: (err: unknown) => void;
}

type AnyClient = RedisClientType | RedisClusterType;

/** What keyv stores: its envelope around our record. */
interface Envelope {
  value: WireRecord;
  expires?: number | null;
}

/** A record as JSON: the response body as base64, or sealed when encryption is on. */
type WireRecord =
  | InFlightRecord
  | { state: "completed"; fingerprint: string; createdAt: number; completedAt: number; attempts?: number; response?: WireResponse; sealed?: string }
  | { state: "indeterminate"; fingerprint: string; createdAt: number; completedAt: number; reason: string; attempts?: number };

interface WireResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

// Lua: the server's clock in ms, so leases do not depend on replica clocks.
const NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";

/** KEYS[1] record; ARGV token, fingerprint, leaseMs, ttlMs → {outcome, previous-or-current JSON} */
const CLAIM = `${NOW}
local record = { state = 'in-flight', token = ARGV[1], fingerprint = ARGV[2], createdAt = now,
  leaseUntil = now + tonumber(ARGV[3]), expiresAt = now + tonumber(ARGV[4]) }
-- No keyv "expires": Redis' PX expires the key, and keyv would otherwise delete it by a replica's clock.
local fresh = cjson.encode({ value = record })
if redis.call('SET', KEYS[1], fresh, 'NX', 'PX', ARGV[4]) then return { 'claimed', '' } end
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], fresh, 'PX', ARGV[4])
  return { 'claimed', '' }
end
local envelope = cjson.decode(current)
local held = envelope.value
if held.state == 'in-flight' and tonumber(held.leaseUntil) <= now then
  redis.call('SET', KEYS[1], fresh, 'PX', ARGV[4])
  return { 'taken-over', current }
end
return { 'exists', current }`;

/** KEYS[1] record; ARGV token, final envelope JSON, ttlMs, channel → 1 if owner */
const COMPLETE = `local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local held = cjson.decode(current).value
if held.state ~= 'in-flight' or held.token ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], KEYS[1])
return 1`;

/** KEYS[1] record; ARGV final envelope JSON, ttlMs, channel, new state → 1 if written. A
 * journaled answer beats an in-flight record whose lease ran out (its owner lost Redis, the
 * gateway answered) and a completed answer beats an indeterminate marker; nothing replaces a
 * completed one, nor an in-flight record whose lease is live (another replica may be sending
 * it now: the write-back waits and tries again). */
const PUT_FINAL = `${NOW}
local current = redis.call('GET', KEYS[1])
if current then
  local held = cjson.decode(current).value
  if held.state == 'completed' then return 0 end
  if held.state == 'in-flight' and tonumber(held.leaseUntil) > now then return -1 end
  if held.state == 'indeterminate' and ARGV[4] ~= 'completed' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], KEYS[1])
return 1`;

/** KEYS[1] record; ARGV token, leaseMs → 1 if owner */
const RENEW = `${NOW}
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local envelope = cjson.decode(current)
local held = envelope.value
if held.state ~= 'in-flight' or held.token ~= ARGV[1] then return 0 end
held.leaseUntil = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], cjson.encode(envelope), 'KEEPTTL')
return 1`;

/** KEYS[1] record; ARGV token, channel → 1 if owner */
const RELEASE = `local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local held = cjson.decode(current).value
if held.state ~= 'in-flight' or held.token ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], KEYS[1])
return 1`;

/** KEYS[1] record → {envelope JSON, PTTL} or nil: the record and its remaining TTL in one read. */
const INSPECT = `local current = redis.call('GET', KEYS[1])
if not current then return false end
return { current, redis.call('PTTL', KEYS[1]) }`;

/**
 * KEYS[1] record; ARGV final envelope JSON ('' to release), channel, accept, fingerprint, ttlMs
 * → resolved | not_found | not_indeterminate. An operator's resolution: only an
 * indeterminate record (with accept = 'not-completed': also an in-flight or missing one, for a
 * key whose indeterminate record waits in this replica's journal) is replaced or deleted, and
 * a completion only over the fingerprint it was made for. Never over an in-flight record whose
 * lease is live: another replica may be sending that request now. The TTL left is kept
 * (KEEPTTL), or set to ttlMs when given.
 */
const RESOLVE = `${NOW}
local current = redis.call('GET', KEYS[1])
if current then
  local held = cjson.decode(current).value
  if held.state == 'completed' then return 'not_indeterminate' end
  if held.state == 'in-flight' and tonumber(held.leaseUntil) > now then return 'not_indeterminate' end
  if held.state ~= 'indeterminate' and ARGV[3] ~= 'not-completed' then return 'not_indeterminate' end
  if ARGV[1] ~= '' and held.fingerprint ~= ARGV[4] then return 'not_indeterminate' end
elseif ARGV[3] ~= 'not-completed' then
  return 'not_found'
end
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
end
redis.call('PUBLISH', ARGV[2], KEYS[1])
return 'resolved'`;

/** Keys one SCAN call walks; how long one listing page may keep scanning for matches. */
const SCAN_COUNT = 1000;
const PAGE_BUDGET_MS = 1000;

/** Where a listing stopped: node (index into the scanned nodes), its SCAN cursor, last key returned from that batch. */
interface ScanPosition {
  n: number;
  c: string;
  a?: string;
}

export async function createRedisStore(options: RedisStoreOptions): Promise<RemoteStore> {
  const onError = options.onError ?? (() => {});
  const socket = { connectTimeout: Math.max(options.operationTimeout, 1000), reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) };
  const sentinel = options.sentinel?.nodes.length ? options.sentinel : undefined;
  // Sentinel and Cluster learn other nodes at run time: they get the credentials of the
  // first configured URL (the same user and password on every node).
  const auth = credentials(sentinel?.nodes[0] ?? options.clusterNodes?.[0]);
  const client: AnyClient = sentinel
    ? (createSentinel({
        name: sentinel.name,
        sentinelRootNodes: sentinel.nodes.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port || 26379) })),
        nodeClientOptions: { socket, disableOfflineQueue: true, ...auth },
        sentinelClientOptions: { socket, ...auth },
      }) as unknown as RedisClientType)
    : options.clusterNodes?.length
      ? (createCluster({
          rootNodes: options.clusterNodes.map((url) => ({ url })),
          defaults: { socket, disableOfflineQueue: true, ...auth },
        }) as unknown as RedisClusterType)
      : (createClient({ url: options.url, socket, disableOfflineQueue: true }) as unknown as RedisClientType);
  client.on("error", onError);

  // Errors throw: a read that fails must fail the request, never look like "no record".
  const adapter = new KeyvRedis<Envelope>(client as never, { throwOnErrors: true, throwOnConnectError: true });
  const keyv = new Keyv<WireRecord>({
    store: adapter,
    useKeyPrefix: false,
    namespace: undefined,
    throwOnErrors: true,
    serialize: JSON.stringify,
    deserialize: (text: string) => JSON.parse(text),
  });
  keyv.on("error", onError);

  const channel = `${options.prefix}:changes`;
  const keyOf = (key: string) => `${options.prefix}:{${key}}`;
  const waiters = new Waiters();
  let healthy = false;

  // Pub/sub needs a connection of its own (a Sentinel client keeps one internally).
  const subscriber = sentinel ? (client as RedisClientType) : (client as RedisClientType).duplicate();
  if (!sentinel) subscriber.on("error", onError);
  let claimedHere = 0;
  const settledHere = () => {
    claimedHere = Math.max(0, claimedHere - 1);
  };

  /** Runs a store operation under the deadline; any failure becomes store_unavailable. */
  const op = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`redis ${name} timed out after ${options.operationTimeout}ms`)), options.operationTimeout);
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

  const evalScript = (script: string, key: string, args: string[]) => client.eval(script, { keys: [key], arguments: args }) as Promise<unknown>;

  const encodeFinal = (key: string, record: FinalRecord): WireRecord => {
    if (record.state === "indeterminate") return record;
    const response: WireResponse = { status: record.response.status, headers: record.response.headers, body: record.response.body.toString("base64") };
    const { fingerprint, createdAt, completedAt } = record;
    const attempts = record.attempts === undefined ? {} : { attempts: record.attempts };
    if (options.cipher) {
      return {
        state: "completed",
        fingerprint,
        createdAt,
        completedAt,
        ...attempts,
        sealed: options.cipher.encrypt(Buffer.from(JSON.stringify(response)), key).toString("base64"),
      };
    }
    return { state: "completed", fingerprint, createdAt, completedAt, ...attempts, response };
  };

  const decode = (key: string, wire: WireRecord): IdempotencyRecord => {
    if (wire.state !== "completed") return wire;
    let response: WireResponse | undefined = wire.response;
    if (wire.sealed !== undefined) {
      if (!options.cipher) throw new StoreError("store_unavailable", "a stored record is encrypted but no store.encryption.key is configured");
      response = JSON.parse(options.cipher.decrypt(Buffer.from(wire.sealed, "base64"), key).toString("utf8")) as WireResponse;
    }
    if (!response) throw new StoreError("store_unavailable", "a stored record has no response");
    const stored: StoredResponse = { status: response.status, headers: response.headers, body: Buffer.from(response.body, "base64") };
    const attempts = wire.attempts === undefined ? {} : { attempts: wire.attempts };
    return { state: "completed", fingerprint: wire.fingerprint, createdAt: wire.createdAt, completedAt: wire.completedAt, ...attempts, response: stored };
  };
  const parseEnvelope = (key: string, text: string): IdempotencyRecord => decode(key, (JSON.parse(text) as Envelope).value);

  const inspect = async (key: string): Promise<RecordEntry | undefined> => {
    const found = (await op("inspect", () => evalScript(INSPECT, keyOf(key), []))) as [string, number] | null;
    if (!found) return undefined;
    return entryOf(key, found);
  };
  const entryOf = (key: string, [text, pttl]: [string, number]): RecordEntry => {
    const record = parseEnvelope(key, text);
    return Number(pttl) > 0 ? { key, record, expiresAt: Date.now() + Number(pttl), source: "redis" } : { key, record, source: "redis" };
  };
  const runResolve = async (key: string, next: CompletedRecord | undefined, accept: "indeterminate" | "not-completed", ttlMs?: number) => {
    const envelope = next ? JSON.stringify({ value: encodeFinal(key, next) } satisfies Envelope) : "";
    const args = [envelope, channel, accept, next?.fingerprint ?? "", ttlMs === undefined ? "" : String(Math.max(1, Math.ceil(ttlMs)))];
    return String(await op("resolve", () => evalScript(RESOLVE, keyOf(key), args))) as ResolveResult;
  };

  /** What SCAN walks: the node, or every master of a Cluster (a Sentinel client talks to the master). */
  type Scanner = { scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string | number; keys: string[] }> };
  const scanners = async (): Promise<Scanner[]> => {
    if (sentinel || !options.clusterNodes?.length) return [client as unknown as Scanner];
    const cluster = client as RedisClusterType;
    return (await Promise.all(cluster.masters.map((master) => cluster.nodeClient(master)))) as unknown as Scanner[];
  };
  // Record keys only: `<prefix>:{<key>}` (the pub/sub channel is no key; prefixes cannot hold glob characters).
  const match = `${options.prefix}:{*}`;
  const keyFrom = (full: string) => full.slice(options.prefix.length + 2, -1);

  const list = async ({ state, limit, cursor }: { state: IdempotencyRecord["state"]; limit: number; cursor?: string | undefined }): Promise<ListPage> => {
    const nodes = await op("list", scanners);
    let at: ScanPosition =
      cursor === undefined
        ? { n: 0, c: "0" }
        : decodeCursor<ScanPosition>(
            cursor,
            (v) =>
              Number.isInteger(v.n) && (v.n as number) >= 0 && typeof v.c === "string" && /^\d+$/.test(v.c) && (v.a === undefined || typeof v.a === "string"),
          );
    const entries: RecordEntry[] = [];
    // Bounded: in a big keyspace with few matches a page comes back short, with a cursor.
    const until = Date.now() + PAGE_BUDGET_MS;
    while (at.n < nodes.length && Date.now() < until) {
      const node = nodes[at.n] as Scanner;
      const from = at;
      const batch = await op("list", () => node.scan(from.c, { MATCH: match, COUNT: SCAN_COUNT }));
      // Sorted, so a page that ends inside a batch resumes after its last key even if a
      // repeated SCAN of the same cursor returns the batch in another order.
      const keys = batch.keys
        .map(keyFrom)
        .filter((k) => from.a === undefined || k > from.a)
        .sort();
      const found = await op("list", () => Promise.all(keys.map((k) => evalScript(INSPECT, keyOf(k), []) as Promise<[string, number] | null>)));
      for (let i = 0; i < keys.length; i++) {
        const hit = found[i];
        const key = keys[i] as string;
        if (!hit || (JSON.parse(hit[0]) as Envelope).value.state !== state) continue;
        entries.push(entryOf(key, hit));
        if (entries.length === limit && i < keys.length - 1) return { entries, cursor: encodeCursor({ n: from.n, c: from.c, a: key }) };
      }
      const next = String(batch.cursor);
      at = next === "0" ? { n: from.n + 1, c: "0" } : { n: from.n, c: next };
      if (entries.length === limit) break;
    }
    return at.n < nodes.length ? { entries, cursor: encodeCursor(at) } : { entries };
  };

  const wake = (key: string) => waiters.wake(key);

  // Connect in the background: while Redis is unreachable every operation fails at once
  // with store_unavailable (and /readyz says so); the client keeps reconnecting.
  // At start, give the first connection a moment, so the first requests do not fail needlessly.
  const connected = (
    sentinel
      ? client.connect().then(() => subscriber.subscribe(channel, (message: string) => wake(message)))
      : Promise.all([client.connect(), subscriber.connect().then(() => subscriber.subscribe(channel, (message: string) => wake(message)))])
  ).then(() => {
    healthy = true;
  }, onError);
  await Promise.race([connected, new Promise((resolve) => setTimeout(resolve, Math.max(1000, 4 * options.operationTimeout)).unref())]);

  return {
    async claim(key, request: ClaimRequest): Promise<ClaimResult> {
      const [outcome, text] = (await op("claim", () =>
        evalScript(CLAIM, keyOf(key), [request.token, request.fingerprint, String(request.leaseMs), String(request.ttlMs)]),
      )) as [string, string];
      if (outcome === "claimed") {
        claimedHere += 1;
        return { outcome: "claimed" };
      }
      const record = parseEnvelope(key, text);
      if (outcome === "taken-over") {
        claimedHere += 1;
        return { outcome: "taken-over", previous: record as InFlightRecord };
      }
      return { outcome: "exists", record };
    },

    async get(key) {
      const wire = await op("get", () => keyv.get(keyOf(key)));
      return wire === undefined ? undefined : decode(key, wire);
    },

    async complete(key, token, record, ttlMs) {
      const envelope: Envelope = { value: encodeFinal(key, record) };
      // Settled here either way: stored, or (Redis failing) handed to the journal by the caller.
      const result = await op("complete", () => evalScript(COMPLETE, keyOf(key), [token, JSON.stringify(envelope), String(ttlMs), channel])).finally(
        settledHere,
      );
      return Number(result) === 1;
    },

    async putFinal(key, record, ttlMs) {
      const envelope: Envelope = { value: encodeFinal(key, record) };
      const result = Number(await op("put", () => evalScript(PUT_FINAL, keyOf(key), [JSON.stringify(envelope), String(ttlMs), channel, record.state])));
      return result === 1 ? "written" : result === -1 ? "busy" : "superseded";
    },

    async renew(key, token, leaseMs) {
      return Number(await op("renew", () => evalScript(RENEW, keyOf(key), [token, String(leaseMs)]))) === 1;
    },

    async release(key, token) {
      const result = await op("release", () => evalScript(RELEASE, keyOf(key), [token, channel])).finally(settledHere);
      return Number(result) === 1;
    },

    inspect,
    list,

    resolve: (key, next) => runResolve(key, next, "indeterminate"),

    resolveJournaled: (key, next, ttlMs) => runResolve(key, next, "not-completed", ttlMs),

    waitForChange(key, timeoutMs) {
      const full = keyOf(key);
      // Wake at the latest after the poll fallback, so a missed message costs a bounded delay.
      const limit = Math.min(timeoutMs, options.pollFallbackMs ?? 1000);
      return waiters.wait(full, limit);
    },

    /** This replica's view: keys it claimed and has not settled. Redis holds the rest. */
    stats(): StoreStats {
      return { entries: 0, bytes: 0, inFlight: claimedHere };
    },

    healthy: () => healthy,

    async ping() {
      try {
        await op("ping", () => keyv.get(keyOf("health")));
        return true;
      } catch {
        return false;
      }
    },

    async close() {
      waiters.wakeAll();
      // close() lets pending commands finish; destroy() for a client that never connected.
      const shut = async (c: { isReady: boolean; close(): Promise<void>; destroy(): void }) => (c.isReady ? c.close() : c.destroy());
      await Promise.allSettled(sentinel ? [shut(client as never)] : [shut(subscriber as never), shut(client as never)]);
    },
  };
}

/** username/password from a redis:// URL, decoded; {} when it has none. */
function credentials(url: string | undefined): { username?: string; password?: string } {
  if (!url) return {};
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}
