/**
 * Test-owned PostgreSQL servers on free loopback ports, for tests that stop, restart or fail
 * over PostgreSQL without touching the machine's shared one on 5432: initdb and pg_ctl from
 * /usr/lib/postgresql/<version>/bin, run as the postgres user (trust auth on loopback). A
 * standby is made with pg_basebackup and promoted with pg_ctl promote.
 */
import { execFile, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll } from "vitest";
import { freePort } from "./redis-server.js";

/** The machine's PostgreSQL (trust auth), for tests that need no server of their own. */
export const SHARED_POSTGRES = process.env.PAYGUARD_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Schemas a test file makes on the machine's PostgreSQL: push them here, they are dropped after the file. */
export function useDroppedSchemas(): string[] {
  const schemas: string[] = [];
  afterAll(async () => {
    const client = new pg.Client(SHARED_POSTGRES);
    await client.connect();
    for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });
  return schemas;
}

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error("no PostgreSQL under /usr/lib/postgresql");
  return join(root, version, "bin");
}

/**
 * Runs a PostgreSQL binary as the postgres user; rejects with its output when it fails. Not
 * spawnSync: the test's own clients and gateway keep running while pg_ctl stops, starts or
 * promotes a server (a failover under load is one where the load goes on).
 */
function asPostgres(bin: string, args: string[]): Promise<string> {
  const isRoot = process.getuid?.() === 0;
  const [cmd, argv] = isRoot ? ["runuser", ["-u", "postgres", "--", join(binDir(), bin), ...args]] : [join(binDir(), bin), args];
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(" ")} failed: ${stderr || stdout || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A directory the postgres user owns (pg refuses a data directory it does not). */
function postgresDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
    const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  return dir;
}

export interface TestPostgres {
  port: number;
  url: string;
  dataDir: string;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** promotes a standby to primary */
  promote(): Promise<void>;
  running(): boolean;
}

async function ready(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    } finally {
      await client.end().catch(() => {});
    }
  }
}

function server(dataDir: string, port: number): TestPostgres {
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let up = false;
  const logFile = join(dataDir, "..", `pg-${port}.log`);
  return {
    port,
    url,
    dataDir,
    async start() {
      await asPostgres("pg_ctl", ["-D", dataDir, "-l", logFile, "-o", `-p ${port} -k ${join(dataDir, "..")}`, "-w", "start"]);
      up = true;
      await ready(url);
    },
    async stop(mode = "fast") {
      if (!up) return;
      up = false;
      await asPostgres("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "stop"]);
    },
    async promote() {
      await asPostgres("pg_ctl", ["-D", dataDir, "-w", "promote"]);
    },
    running: () => up,
  };
}

/** A fresh cluster (initdb) on a free port, started; synchronous_commit as given. */
export async function startPostgres(options: { walLevel?: "replica" } = {}): Promise<TestPostgres> {
  const parent = postgresDir("payguard-pg-");
  const dataDir = join(parent, "data");
  await asPostgres("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const port = await freePort();
  // Fast to start and stop; replication allowed from loopback for a standby.
  const conf = [
    "listen_addresses = '127.0.0.1'",
    "fsync = on",
    "max_connections = 200",
    `wal_level = ${options.walLevel ?? "replica"}`,
    "max_wal_senders = 4",
    "hot_standby = on",
  ];
  spawnSync("sh", ["-c", `cat >> ${join(dataDir, "postgresql.conf")} <<'EOF'\n${conf.join("\n")}\nEOF`]);
  const db = server(dataDir, port);
  await db.start();
  return db;
}

/** A streaming standby of `primary` (pg_basebackup -R), started on a free port. */
export async function startStandby(primary: TestPostgres): Promise<TestPostgres> {
  const parent = postgresDir("payguard-pg-standby-");
  const dataDir = join(parent, "data");
  await asPostgres("pg_basebackup", ["-h", "127.0.0.1", "-p", String(primary.port), "-U", "postgres", "-D", dataDir, "-R", "-X", "stream"]);
  if (!existsSync(join(dataDir, "standby.signal"))) throw new Error("pg_basebackup -R wrote no standby.signal");
  const port = await freePort();
  const db = server(dataDir, port);
  await db.start();
  return db;
}
