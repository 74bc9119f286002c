/**
 * How the Redis store runs an operation: under the deadline (`store.operationTimeout`), any
 * failure a StoreError("store_unavailable"), the server's health tracked from the outcome; a
 * script on one record's key; and, with `replication`, WAIT for that many replicas.
 */
import { StoreError } from "../types.js";
import type { RedisConnection } from "./connection.js";

export interface RedisOpsOptions {
  prefix: string;
  operationTimeout: number;
  replication?: { replicas: number; timeoutMs: number } | undefined;
}

export class RedisOps {
  /** true while the last operation reached the server */
  healthy = false;

  constructor(
    private readonly connection: RedisConnection,
    private readonly options: RedisOpsOptions,
  ) {}

  /** The Redis key of a record: one hash slot per record, so every script stays valid in Cluster. */
  keyOf(key: string): string {
    return `${this.options.prefix}:{${key}}`;
  }

  /** Runs a store operation under the deadline; any failure becomes store_unavailable. */
  async op<T>(name: string, fn: () => Promise<T>, deadlineMs = this.options.operationTimeout): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis ${name} timed out after ${deadlineMs}ms`)), deadlineMs);
      });
      const result = await Promise.race([fn(), deadline]);
      this.healthy = true;
      return result;
    } catch (err) {
      this.healthy = false;
      if (err instanceof StoreError) throw err;
      throw new StoreError("store_unavailable", `redis ${name} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** A script on one record's key. */
  run(name: string, script: string, key: string, args: string[]): Promise<unknown> {
    return this.op(name, () => this.connection.eval(script, this.keyOf(key), args));
  }

  /** Throws unless the configured number of replicas acknowledged this connection's writes. */
  async replicated(name: string, key: string): Promise<void> {
    const { replication, operationTimeout } = this.options;
    if (!replication) return;
    const { replicas, timeoutMs } = replication;
    const acks = await this.op(`${name} (WAIT)`, () => this.connection.acknowledged(this.keyOf(key), replicas, timeoutMs), timeoutMs + operationTimeout);
    if (acks >= replicas) return;
    this.healthy = false;
    throw new StoreError("store_unavailable", `redis ${name}: ${acks} of ${replicas} replicas acknowledged within ${timeoutMs}ms`);
  }
}
