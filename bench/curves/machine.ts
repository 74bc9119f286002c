/** Where and with what the curves ran: date, machine, versions, commit, parameters — the head of CURVES.md. */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import type { Params } from "./args.js";
import { POSTGRES_URL, REDIS_URL } from "./stores.js";

function run(command: string, args: string[]): string | undefined {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 5_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function versions(): string {
  const autocannon = (JSON.parse(readFileSync("node_modules/autocannon/package.json", "utf8")) as { version: string }).version;
  const redis = run("redis-cli", ["-u", REDIS_URL, "INFO", "server"])?.match(/redis_version:(\S+)/)?.[1];
  const postgres = run("psql", [POSTGRES_URL, "-tAc", "SHOW server_version"]);
  return [
    `node ${process.version}`,
    `autocannon ${autocannon}`,
    redis ? `Redis ${redis} at ${REDIS_URL}` : "no Redis",
    postgres ? `PostgreSQL ${postgres} at ${POSTGRES_URL}` : "no PostgreSQL",
  ].join(", ");
}

export function machineLines(params: Params): string[] {
  const cpu = cpus();
  const commit = run("git", ["rev-parse", "--short", "HEAD"]) ?? "unknown";
  const dirty = run("git", ["status", "--porcelain", "--untracked-files=no"]) ? " (with uncommitted changes)" : "";
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, shared by the load generator, the upstream, payguard and the stores`,
    `- ${versions()}`,
    `- payguard: dist/ as built at commit ${commit}${dirty}, log level info (one JSON access line per request, to /dev/null); upstream: bench/gateway.ts (a small fixed JSON answer)`,
    `- parameters: \`${process.argv.slice(2).join(" ") || "(defaults)"}\` → ${params.seconds} s per run, ${params.rounds} run(s) per point, ${params.warmup} s warm-up per point`,
    "- CPU = utime + stime of the payguard process from /proc/<pid>/stat around each run ÷ responses (CPU s per 1,000 requests = CPU ms per request); RSS = VmRSS before the run, peak = VmHWM reset before the run",
  ];
}
