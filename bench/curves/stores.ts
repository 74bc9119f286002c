/**
 * The three stores the store-size curve runs on: how payguard is configured for each, how
 * to reach its storage directly (the seeder), and what to remove afterwards. Redis and
 * PostgreSQL are skipped (and said so) when they cannot be reached.
 */
import { spawnSync } from "node:child_process";
import { createConnection } from "node:net";
import type { PayguardProc } from "../targets.js";
import type { StoreKind } from "./args.js";
import { postgresSeeder } from "./seed/postgres.js";
import { redisSeeder } from "./seed/redis.js";
import type { Seeder } from "./seed/seeder.js";
import { sqliteSeeder } from "./seed/sqlite.js";

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface StoreSetup {
  kind: StoreKind;
  label: string;
  /** where it lives, for the report */
  where: string;
  /** YAML inside payguard's `store: { … }` */
  yaml: string;
  seeder(proc: PayguardProc): Promise<Seeder>;
  /** removes what the run left in the store (the SQLite file goes with payguard's temp dir) */
  cleanup(): void;
}

export function storeSetup(kind: StoreKind): StoreSetup {
  const tag = `${process.pid}_${Date.now()}`;
  if (kind === "redis") {
    const prefix = `payguard-curves-${tag}`;
    return {
      kind,
      label: "Redis",
      where: REDIS_URL,
      yaml: `type: redis, url: "${REDIS_URL}", prefix: "${prefix}"`,
      seeder: () => redisSeeder(REDIS_URL, prefix),
      cleanup: () => unlinkRedisPrefix(REDIS_URL, prefix),
    };
  }
  if (kind === "postgres") {
    const schema = `curves_${tag}`;
    const application = `payguard-curves-seeder-${tag}`;
    return {
      kind,
      label: "PostgreSQL",
      where: POSTGRES_URL,
      // As in bench/run.ts: on 2 shared cores a statement's p99 can pass the default 250 ms deadline.
      yaml: `type: postgres, url: "${POSTGRES_URL}", postgres: { schema: ${schema} }, operationTimeout: 2s`,
      seeder: () => postgresSeeder(POSTGRES_URL, schema, application),
      cleanup: () => dropSchema(POSTGRES_URL, schema, application),
    };
  }
  return {
    kind,
    label: "SQLite",
    where: "payguard's temp dir",
    yaml: "type: sqlite",
    seeder: async (proc) => sqliteSeeder(proc.sqlitePath),
    cleanup: () => {},
  };
}

/**
 * Deletes every key under `prefix`, streaming SCAN into UNLINK (targets.ts' deleteRedisKeys
 * buffers the key list in spawnSync's 1 MiB maxBuffer: past ~15k keys it silently does nothing).
 * Synchronous, so it can run from process.on("exit").
 */
function unlinkRedisPrefix(url: string, prefix: string): void {
  if (!/^[A-Za-z0-9_.:-]+$/.test(prefix)) throw new Error(`unsafe Redis prefix ${prefix}`);
  const cli = `redis-cli -u '${url.replace(/'/g, "'\\''")}'`;
  const r = spawnSync("sh", ["-c", `${cli} --scan --pattern '${prefix}:*' | xargs -r -n 1000 ${cli} unlink > /dev/null`], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (r.status !== 0)
    console.error(`deleting the Redis keys under ${prefix} failed (exit ${r.status}); delete them with redis-cli --scan --pattern '${prefix}:*'`);
}

/**
 * Drops the schema, first ending this run's seeder session: run from process.on("exit") while
 * the seeder holds a transaction open in this (now blocked) process, DROP would wait on it for
 * ever (targets.ts' dropPostgresSchema would). Synchronous, with a lock timeout.
 */
function dropSchema(url: string, schema: string, application: string): void {
  const sql = [
    "SET lock_timeout = '30s'",
    "SET client_min_messages = warning",
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${application}'`,
    `DROP SCHEMA IF EXISTS ${schema} CASCADE`,
  ];
  const r = spawnSync("psql", [url, "-qAt", ...sql.flatMap((statement) => ["-c", statement])], { stdio: ["ignore", "ignore", "inherit"], timeout: 60_000 });
  if (r.status !== 0) console.error(`dropping the PostgreSQL schema ${schema} failed (exit ${r.status}); drop it with DROP SCHEMA ${schema} CASCADE`);
}

/** Whether a TCP connection to the URL's host and port opens. */
export function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port || defaultPort), timeout: 1000 });
    socket
      .once("connect", () => {
        socket.end();
        resolve(true);
      })
      .once("error", () => resolve(false))
      .once("timeout", () => {
        socket.destroy();
        resolve(false);
      });
  });
}

/** Why a store cannot be used, or undefined. */
export async function unavailable(kind: StoreKind): Promise<string | undefined> {
  if (kind === "redis" && !(await reachable(REDIS_URL, 6379))) return `Redis at ${REDIS_URL} is not reachable`;
  if (kind === "postgres" && !(await reachable(POSTGRES_URL, 5432))) return `PostgreSQL at ${POSTGRES_URL} is not reachable`;
  return undefined;
}
