/**
 * Test-owned redis-server processes on free loopback ports, for tests that must stop,
 * restart or cluster Redis without touching the machine's shared instance on 6379.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
    socket.setTimeout(500, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("data", (d) => {
      socket.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    socket.on("error", () => resolve(false));
  });
}

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Starts redis-server on a free port (no persistence unless extra args ask for it). */
export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "payguard-redis-"));
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...extraArgs], {
      stdio: "ignore",
    });
    for (let i = 0; i < 100; i++) {
      if (await answers(port)) return;
      await sleep(50);
    }
    throw new Error(`redis-server on ${port} did not start`);
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc?.once("exit", resolve));
    proc.kill("SIGKILL");
    await exited;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, dir, start, stop };
}

/** A 3-master Redis Cluster on loopback ports, created with redis-cli --cluster create. */
export async function startRedisCluster(): Promise<{ nodes: TestRedis[]; urls: string[]; stop(): Promise<void> }> {
  const nodes: TestRedis[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = mkdtempSync(join(tmpdir(), "payguard-cluster-"));
    nodes.push(await startRedis(["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "2000"]));
  }
  const created = spawnSync("redis-cli", ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"], {
    encoding: "utf8",
  });
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stderr || created.stdout}`);
  // Wait until every node reports the cluster ok.
  for (let i = 0; i < 100; i++) {
    const states = nodes.map((n) => spawnSync("redis-cli", ["-p", String(n.port), "cluster", "info"], { encoding: "utf8" }).stdout);
    if (states.every((s) => s.includes("cluster_state:ok"))) break;
    await sleep(100);
  }
  return { nodes, urls: nodes.map((n) => n.url), stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))) };
}

/** Starts a cluster before the enclosing suite and stops it after; returns its seed URLs. */
export function useRedisCluster(): () => string[] {
  let cluster: Awaited<ReturnType<typeof startRedisCluster>> | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => cluster?.urls ?? [];
}

/** A master plus one Sentinel monitoring it as "mymaster". */
export async function startRedisSentinel(): Promise<{ master: TestRedis; sentinelUrl: string; stop(): Promise<void> }> {
  const master = await startRedis();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "payguard-sentinel-"));
  const conf = join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds mymaster 2000\n`,
  );
  const proc = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  for (let i = 0; i < 100 && !(await answers(port)); i++) await sleep(50);
  return {
    master,
    sentinelUrl: `redis://127.0.0.1:${port}`,
    stop: async () => {
      proc.kill("SIGKILL");
      await master.stop();
    },
  };
}
