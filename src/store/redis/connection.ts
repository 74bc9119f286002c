/**
 * The connections behind the Redis store: one client (single node, Cluster or Sentinel) for
 * commands, keyv over it for reads, one more for pub/sub, and what needs to know the
 * topology — SCAN on every master, WAIT on the node that holds a key.
 */
import KeyvRedis, { createClient, createCluster, createSentinel, Keyv, type RedisClientType, type RedisClusterType } from "@keyv/redis";
import type { Envelope, WireRecord } from "./wire.js";

export interface RedisTopology {
  /** redis:// or rediss:// URL (single node) */
  url?: string | undefined;
  /** cluster seed nodes as redis:// URLs */
  clusterNodes?: string[] | undefined;
  /** Sentinel: the monitored master's name and sentinel nodes as redis:// URLs */
  sentinel?: { name: string; nodes: string[] } | undefined;
  operationTimeout: number;
}

/** What SCAN walks. */
export type Scanner = { scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string | number; keys: string[] }> };

export interface RedisConnection {
  keyv: Keyv<WireRecord>;
  eval(script: string, key: string, args: string[]): Promise<unknown>;
  /** WAIT on the connection that wrote `key`: how many replicas acknowledged its writes within timeoutMs */
  acknowledged(key: string, replicas: number, timeoutMs: number): Promise<number>;
  /** the node, or every master of a Cluster (a Sentinel client talks to the master) */
  scanners(): Promise<Scanner[]>;
  /** connects both connections and subscribes `channel`; rejects while Redis cannot be reached */
  connect(channel: string, onMessage: (message: string) => void): Promise<void>;
  close(): Promise<void>;
}

export type AnyClient = RedisClientType | RedisClusterType;

/** How payguard reaches Redis; a Sentinel setting with no nodes counts as none. */
export type Kind = "single" | "cluster" | "sentinel";

export function openRedis(options: RedisTopology, onError: (err: unknown) => void): RedisConnection {
  const { client, kind } = commandClient(options);
  client.on("error", onError);
  const keyv = keyvOver(client, onError);
  // Pub/sub needs a connection of its own (a Sentinel client keeps one internally).
  const sentinel = kind === "sentinel";
  const subscriber = sentinel ? (client as RedisClientType) : (client as RedisClientType).duplicate();
  if (!sentinel) subscriber.on("error", onError);

  return {
    keyv,
    eval: (script, key, args) => client.eval(script, { keys: [key], arguments: args }) as Promise<unknown>,
    acknowledged: (key, replicas, timeoutMs) => waitFor(client, kind, key, replicas, timeoutMs),

    async scanners() {
      if (kind !== "cluster") return [client as unknown as Scanner];
      const nodes = client as RedisClusterType;
      return (await Promise.all(nodes.masters.map((master) => nodes.nodeClient(master)))) as unknown as Scanner[];
    },

    async connect(channel, onMessage) {
      if (sentinel) {
        await client.connect();
        await subscriber.subscribe(channel, onMessage);
        return;
      }
      await Promise.all([client.connect(), subscriber.connect().then(() => subscriber.subscribe(channel, onMessage))]);
    },

    async close() {
      // close() lets pending commands finish; destroy() for a client that never connected.
      const shut = async (c: { isReady: boolean; close(): Promise<void>; destroy(): void }) => (c.isReady ? c.close() : c.destroy());
      await Promise.allSettled(sentinel ? [shut(client as never)] : [shut(subscriber as never), shut(client as never)]);
    },
  };
}

/** The command client for the configured topology: Sentinel, else Cluster, else one node (not connected yet). */
export function commandClient(options: RedisTopology): { client: AnyClient; kind: Kind } {
  const socket = { connectTimeout: Math.max(options.operationTimeout, 1000), reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) };
  const sentinel = options.sentinel?.nodes.length ? options.sentinel : undefined;
  const cluster = !sentinel && (options.clusterNodes?.length ?? 0) > 0;
  // Sentinel and Cluster learn other nodes at run time: they get the credentials of the
  // first configured URL (the same user and password on every node).
  const auth = credentials(sentinel?.nodes[0] ?? options.clusterNodes?.[0]);
  if (sentinel) {
    const client = createSentinel({
      name: sentinel.name,
      sentinelRootNodes: sentinel.nodes.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port || 26379) })),
      nodeClientOptions: { socket, disableOfflineQueue: true, ...auth },
      sentinelClientOptions: { socket, ...auth },
    });
    return { client: client as unknown as RedisClientType, kind: "sentinel" };
  }
  if (cluster) {
    const client = createCluster({
      rootNodes: (options.clusterNodes ?? []).map((url) => ({ url })),
      defaults: { socket, disableOfflineQueue: true, ...auth },
    });
    return { client: client as unknown as RedisClusterType, kind: "cluster" };
  }
  return { client: createClient({ url: options.url, socket, disableOfflineQueue: true }) as unknown as RedisClientType, kind: "single" };
}

/** keyv over the command client, for reads. */
function keyvOver(client: AnyClient, onError: (err: unknown) => void): Keyv<WireRecord> {
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
  return keyv;
}

/**
 * WAIT counts the replicas that have every write this connection made so far: it goes on
 * the connection the script ran on — the key's master in a Cluster, the one master
 * connection of a Sentinel client (masterPoolSize 1), the client itself otherwise.
 */
async function waitFor(client: AnyClient, kind: Kind, key: string, replicas: number, timeoutMs: number): Promise<number> {
  const args = ["WAIT", String(replicas), String(timeoutMs)];
  const reply =
    kind === "cluster"
      ? await (client as RedisClusterType).sendCommand(key, false, args)
      : kind === "sentinel"
        ? await (client as unknown as { sendCommand(readonly: boolean, args: string[]): Promise<unknown> }).sendCommand(false, args)
        : await (client as RedisClientType).sendCommand(args);
  return Number(reply);
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
