/**
 * Whether Redis keeps payguard's records across its own restart: only with AOF
 * (`appendonly yes`, docs/operations.md "What Redis must keep"). Asked once at start, on a
 * short-lived connection of its own; off is a warning, never a refusal to start. Managed
 * Redis services often refuse CONFIG: then the line says it could not be checked.
 */
import type { RedisClientType, RedisClusterType } from "@keyv/redis";
import type { Logger } from "../../log.js";
import { type AnyClient, commandClient, type Kind, type RedisTopology } from "./connection.js";

const CONFIG_GET_APPENDONLY = ["CONFIG", "GET", "appendonly"];

/** Each master's answer: "yes" or "no" by host:port. */
export type AppendOnly = Record<string, string>;

/** Asks every master (one node, each Cluster master, Sentinel's master); rejects if one cannot be asked within `timeoutMs`. */
export async function appendOnly(topology: RedisTopology, timeoutMs: number): Promise<AppendOnly> {
  const { client, kind } = commandClient(topology);
  // The client retries a failed connection: the last failure is the reason given at the deadline.
  let failure = "no answer";
  client.on("error", (err: unknown) => {
    failure = err instanceof Error ? err.message : String(err);
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${failure} (within ${timeoutMs}ms)`)), timeoutMs);
  });
  const asked = client.connect().then(() => askMasters(client, kind, topology));
  asked.catch(() => {}); // past the deadline its failure (the client destroyed) is nobody's to handle
  try {
    return await Promise.race([asked, deadline]);
  } finally {
    clearTimeout(timer);
    await Promise.resolve((client as { destroy(): unknown }).destroy()).catch(() => {});
  }
}

async function askMasters(client: AnyClient, kind: Kind, topology: RedisTopology): Promise<AppendOnly> {
  if (kind === "cluster") {
    const cluster = client as RedisClusterType;
    const answers = await Promise.all(
      cluster.masters.map(async (m) => [`${m.host}:${m.port}`, appendonlyOf(await (await cluster.nodeClient(m)).sendCommand(CONFIG_GET_APPENDONLY))] as const),
    );
    return Object.fromEntries(answers);
  }
  if (kind === "sentinel") {
    const sentinel = client as unknown as { sendCommand(readonly: boolean, args: string[]): Promise<unknown> };
    return { [`sentinel ${topology.sentinel?.name}`]: appendonlyOf(await sentinel.sendCommand(false, CONFIG_GET_APPENDONLY)) };
  }
  const url = new URL(topology.url ?? "redis://127.0.0.1:6379");
  return { [url.host]: appendonlyOf(await (client as RedisClientType).sendCommand(CONFIG_GET_APPENDONLY)) };
}

/** CONFIG GET's reply: [name, value] (RESP2) or { name: value } (RESP3). */
function appendonlyOf(reply: unknown): string {
  const value = Array.isArray(reply) ? reply[1] : (reply as Record<string, unknown> | null)?.appendonly;
  if (typeof value !== "string") throw new Error("CONFIG GET appendonly named no value");
  return value;
}

/**
 * Logs what Redis said: a warning (code redis_aof_off) naming the masters without AOF, an info
 * line when every one has it, and an info line (redis_aof_unknown) when it could not be asked.
 * Never rejects.
 */
export async function reportAppendOnly(topology: RedisTopology, logger: Logger): Promise<void> {
  const timeoutMs = Math.max(2000, 4 * topology.operationTimeout);
  try {
    const answers = await appendOnly(topology, timeoutMs);
    const off = Object.keys(answers).filter((node) => answers[node] !== "yes");
    if (off.length === 0) logger.info({ code: "redis_aof_on", nodes: Object.keys(answers) }, "store: redis appendonly is on");
    else
      logger.warn(
        {
          code: "redis_aof_off",
          nodes: off,
          detail: "a Redis restart loses the records (all, or those since its last RDB snapshot): set appendonly yes (docs/operations.md)",
        },
        "store: redis appendonly is off",
      );
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    logger.info({ code: "redis_aof_unknown", reason }, "store: redis appendonly could not be checked");
  }
}
