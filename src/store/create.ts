/**
 * The idempotency store a config asks for: the backend, with what every backend shares put
 * around it once — encryption at rest, and (for a shared backend) the durable local queue for
 * answers it cannot take while it is down.
 *
 * The Redis and PostgreSQL backends (and their clients) are imported only when the config
 * asks for them: loaded, they left a SQLite process ~3 MB more live heap (22 MB against 19
 * after a full GC), which each full GC would mark for nothing (docs/performance.md#body-size).
 */
import type { StoreConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { cipherFor } from "./crypto.js";
import { createMemoryStore } from "./memory.js";
import { sealedStore } from "./sealing.js";
import { createSharedStore, type ReadyStore } from "./shared/store.js";
import { openSqliteStore } from "./sqlite/store.js";

/** `settles`: webhook endpoints are configured, so events settle the ledger (SQLite keeps the indexes they need). */
export async function createStore(config: StoreConfig, deps: { metrics: Metrics; logger: Logger; settles?: boolean }): Promise<ReadyStore> {
  switch (config.type) {
    case "redis": {
      const { createRedisStore } = await import("./redis/store.js");
      const redis = await createRedisStore({
        url: config.url,
        clusterNodes: config.cluster.nodes,
        sentinel: config.sentinel,
        prefix: config.prefix,
        operationTimeout: config.operationTimeout,
        replication: config.waitForReplicas.replicas > 0 ? { replicas: config.waitForReplicas.replicas, timeoutMs: config.waitForReplicas.timeout } : undefined,
        onError: () => {}, // connection errors surface as failed operations, counted by the shared layer
      });
      return createSharedStore(redis, config, deps);
    }
    case "postgres": {
      const { createPostgresStore } = await import("./postgres/store.js");
      const postgres = await createPostgresStore({
        nodes: config.postgres.nodes.length > 0 ? config.postgres.nodes : [config.url],
        schema: config.postgres.schema,
        operationTimeout: config.operationTimeout,
        poolSize: config.postgres.poolSize,
        ledgerRetentionMs: config.ledger.retention,
        onError: () => {}, // connection errors surface as failed operations, counted by the shared layer
      });
      return createSharedStore(postgres, config, deps);
    }
    case "sqlite": {
      const cipher = cipherFor(config.encryption.key);
      const sqlite = openSqliteStore({
        path: config.path,
        synchronous: config.synchronous,
        ledgerRetentionMs: config.ledger.retention,
        settles: deps.settles ?? false,
        onWritable: (writable, reason) => {
          if (writable) deps.logger.info("store: the SQLite file takes writes again; ready");
          else deps.logger.error({ reason }, "store: the SQLite file cannot take writes; not ready until a write commits");
        },
      });
      return { ...sealedStore(sqlite, cipher), ready: () => sqlite.ready() };
    }
    case "memory":
      return { ...createMemoryStore({ ...config, onEvict: () => deps.metrics.storeEvictions.inc() }), ready: () => true };
  }
}
