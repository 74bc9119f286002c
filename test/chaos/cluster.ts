/**
 * The chaos suite's cluster: two payguard replicas (CLI child processes, as in production)
 * on fixed ports, sharing a test-owned store — a redis-server with AOF persistence, or a
 * PostgreSQL cluster — each with its own journal directory. A replica can be SIGKILLed and
 * restarted (same config, ports and journal); the store can be stopped and restarted (same
 * data directory; PostgreSQL in "immediate" mode, a crash followed by recovery).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import { type Child, startChild, writeTempConfig } from "../support/payguard.js";
import { startPostgres } from "../support/postgres-server.js";
import { freePort, startRedis } from "../support/redis-server.js";

export type ChaosStore = "redis" | "postgres";

export interface ClusterOptions {
  gatewayUrl: string;
  /** idempotency lease: short, so a killed replica's claims expire quickly */
  leaseMs: number;
  /** resilience.timeout.attempt: above the gateway's late answers */
  attemptTimeoutMs: number;
  totalTimeoutMs: number;
  maxWaitMs: number;
  /**
   * store.onUnavailable. `local` dedupes by replica only while Redis is down, so two replicas
   * may both send a key: it runs with the upstream key on, in front of a gateway that dedupes
   * (the only way the docs allow it); `reject` with no upstream key, in front of one that does not.
   */
  onUnavailable: "reject" | "local";
  /** a store the cluster starts (and stops at close), or one the test runs itself */
  store: ChaosStore | StoreServer;
}

/** The shared store the replicas use, as the test drives it. */
export interface StoreServer {
  readonly kind: ChaosStore;
  /** the store section of a replica's config (indented under `store:`) */
  readonly yaml: string;
  /** postgres:// or redis:// URL */
  readonly url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function startStore(kind: ChaosStore): Promise<StoreServer> {
  if (kind === "redis") {
    const redis = await startRedis(["--appendonly", "yes", "--appendfsync", "always"]);
    return { kind, url: redis.url, yaml: `type: redis\n  url: "${redis.url}"\n  prefix: chaos`, stop: redis.stop, start: redis.start };
  }
  const db = await startPostgres();
  return {
    kind,
    url: db.url,
    yaml: `type: postgres\n  url: "${db.url}"\n  postgres: { schema: chaos }`,
    stop: () => db.stop("immediate"),
    start: db.start,
  };
}

export interface Replica {
  readonly name: string;
  readonly url: string;
  readonly adminUrl: string;
  /** 0 for the first process, +1 per restart */
  readonly epoch: number;
  /** the current process */
  readonly child: Child;
  /** stdout lines of every process this replica ran, by epoch */
  readonly logs: string[][];
  /** the last /metrics text of every earlier process, scraped just before it was killed */
  readonly lastMetrics: string[];
}

export interface Cluster {
  readonly store: StoreServer;
  readonly replicas: readonly Replica[];
  /** scrapes, SIGKILLs, waits `downMs` and restarts the replica; returns when it listens again */
  killAndRestart(replica: Replica, downMs: number): Promise<{ killedAt: number }>;
  /**
   * stops the store (redis-server: SIGKILL, AOF with appendfsync always keeps every answered
   * write; PostgreSQL: immediate shutdown, recovered from its WAL), waits, restarts it
   */
  restartStore(downMs: number): Promise<{ stoppedAt: number }>;
  /** /metrics of every live replica */
  metrics(): Promise<string[]>;
  /** waits until every replica answers /metrics with an empty journal (everything written back to the store) */
  settle(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

interface MutableReplica extends Replica {
  epoch: number;
  child: Child;
}

function replicaYaml(o: ClusterOptions, store: StoreServer, port: number, adminPort: number, journal: string): string {
  return `
server: { host: 127.0.0.1, port: ${port} }
admin: { host: 127.0.0.1, port: ${adminPort} }
upstream: { url: "${o.gatewayUrl}" }
shutdown: { readinessDelay: 0ms, drainTimeout: 2s }
log: { level: info }
resilience:
  timeout: { attempt: ${o.attemptTimeoutMs}ms, total: ${o.totalTimeoutMs}ms }
  # Not under test here; the default (5 in a row, open 10 s) would stall the run on a fault streak.
  breaker: { threshold: 20, halfOpenAfter: 1s }
idempotency:
  upstreamKey: ${o.onUnavailable === "local" ? "{ header: idempotency-key }" : "false"}
  notProcessed: [503]
  lease: ${o.leaseMs}ms
  inFlight: { strategy: wait, maxWait: ${o.maxWaitMs}ms }
store:
  ${store.yaml}
  onUnavailable: ${o.onUnavailable}
  journal: { dir: "${journal}", fsync: true }
`;
}

export async function startCluster(options: ClusterOptions, names: readonly string[] = ["A", "B"]): Promise<Cluster> {
  const store = typeof options.store === "string" ? await startStore(options.store) : options.store;
  const replicas: MutableReplica[] = [];
  const configs = new Map<string, string>();
  try {
    for (const name of names) {
      const [port, adminPort] = [await freePort(), await freePort()];
      const journal = mkdtempSync(join(tmpdir(), `payguard-chaos-journal-${name}-`));
      const file = writeTempConfig(replicaYaml(options, store, port, adminPort, journal));
      configs.set(name, file);
      const child = await startChild(file);
      replicas.push({ name, url: child.url, adminUrl: child.adminUrl, epoch: 0, child, logs: [child.stdout], lastMetrics: [] });
    }
  } catch (err) {
    for (const r of replicas) r.child.proc.kill("SIGKILL");
    await store.stop();
    throw err;
  }

  const scrape = async (r: Replica) => (await send(r.adminUrl, "/metrics")).body.toString("utf8");

  return {
    store,
    replicas,
    async killAndRestart(replica, downMs) {
      const r = replica as MutableReplica;
      r.lastMetrics.push(await scrape(r).catch(() => ""));
      const exited = r.child.exited;
      r.child.proc.kill("SIGKILL");
      const killedAt = performance.now();
      await exited;
      await sleep(downMs);
      r.child = await startChild(configs.get(r.name) as string);
      r.epoch += 1;
      r.logs.push(r.child.stdout);
      return { killedAt };
    },
    async restartStore(downMs) {
      await store.stop();
      const stoppedAt = performance.now();
      await sleep(downMs);
      await store.start();
      return { stoppedAt };
    },
    metrics: () => Promise.all(replicas.map(scrape)),
    async settle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const texts = await Promise.all(replicas.map((r) => scrape(r).catch(() => "")));
        const busy = texts.some((t) => t === "" || sample(t, "payguard_journal_backlog") > 0);
        if (!busy) return;
        if (Date.now() > deadline) throw new Error(`journals not written back within ${timeoutMs}ms`);
        await sleep(100);
      }
    },
    async close() {
      await Promise.all(
        replicas.map(async (r) => {
          const exited = r.child.exited;
          if (r.child.proc.exitCode === null && r.child.proc.signalCode === null) {
            r.child.proc.kill("SIGKILL");
            await exited;
          }
        }),
      );
      await store.stop();
    },
  };
}
