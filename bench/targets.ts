/**
 * The processes under test — the upstream (bench/gateway.ts), nginx and payguard, in plain
 * HTTP or terminating TLS — each in its own process group so that one kill reaches a process
 * and its children (nginx's worker), plus /proc sampling (CPU seconds, peak RSS) of a process.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { HEAP_PROBE } from "../test/support/heap.js";
import { issueServerCert, makeTestCa, type TestCa } from "../test/support/test-ca.js";
import { checkTls, type TlsClient } from "./load.js";

const groups = new Set<number>();
const tempDirs = new Set<string>();

/** Synchronous, so it can run from process.on("exit"): SIGKILLs every group still alive, removes temp dirs. */
export function killAll(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {}
  }
  groups.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Runs a bench script's main: exit 0 after it, or print the error, stop every child and exit 1. */
export function runBench(main: () => Promise<void>): void {
  process.on("exit", killAll);
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      killAll();
      process.exit(1);
    },
  );
}

/** A running child: its pid (also its process group id) and a way to stop it. */
export interface Proc {
  name: string;
  pid: number;
  /** The pid whose CPU and RSS are sampled (nginx: its worker). */
  workerPid: number;
  url: string;
  /** for an https `url`: the name the client asks for and the CA it trusts */
  tls?: TlsClient;
  /** Sends `signal` to the group, waits up to `graceMs`, then SIGKILLs; resolves with the exit code. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

function spawnGroup(command: string, args: string[], stdout: "pipe" | "ignore", env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(command, args, { stdio: ["ignore", stdout, "inherit"], detached: true, env });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  groups.add(child.pid);
  child.once("exit", () => groups.delete(child.pid as number));
  return child;
}

function stopper(child: ChildProcess): Proc["stop"] {
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
  return async (signal = "SIGTERM", graceMs = 5_000) => {
    const pid = child.pid as number;
    if (groups.has(pid)) {
      try {
        process.kill(-pid, signal);
      } catch {}
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {}
    }, graceMs);
    const code = await exited;
    clearTimeout(timer);
    // nginx's worker outlives a dead master; the group kill catches it.
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
    return code;
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor(what: string, ready: () => Promise<boolean>, child: ChildProcess, tries = 150): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it was ready`);
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not become ready`);
}

const ok = (url: string) => () =>
  fetch(url).then(
    async (r) => {
      await r.arrayBuffer();
      return r.ok;
    },
    () => false,
  );

/** The fake gateway, in its own process; it prints its URL on the first stdout line. */
export function startGateway(): Promise<Proc> {
  return startScript("direct", "bench/gateway.ts");
}

/** The bare Node proxy (bench/floor.ts) in front of `upstreamUrl`; with `heapProbe`, its heap allocations are counted into that file. */
export function startFloor(upstreamUrl: string, heapProbe?: string): Promise<Proc> {
  return startScript("node floor", "bench/floor.ts", [upstreamUrl], heapProbe);
}

/** `node --import` of the heap probe (test/support/heap-probe.mjs), writing to `file`. */
function probed(file: string | undefined): { args: string[]; env: NodeJS.ProcessEnv } {
  if (!file) return { args: [], env: process.env };
  return { args: ["--import", HEAP_PROBE], env: { ...process.env, HEAP_PROBE_FILE: file } };
}

/** A bench/ script in its own process that prints its URL on its first stdout line. */
async function startScript(name: string, script: string, args: string[] = [], heapProbe?: string): Promise<Proc> {
  const probe = probed(heapProbe);
  const child = spawnGroup(process.execPath, [...probe.args, "--import", "tsx", script, ...args], "pipe", probe.env);
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line.startsWith("http")) resolve(line);
    });
  });
  const pid = child.pid as number;
  return { name, pid, workerPid: pid, url, stop: stopper(child) };
}

/**
 * The TLS cells' certificates: one CA (ECDSA P-256, openssl) that payguard mints its
 * certificates for `servername` from, and that signed nginx's certificate for that name (an
 * ECDSA P-256 key too, so both handshakes sign alike). The load client trusts only this CA.
 */
export interface BenchTls {
  servername: string;
  ca: TestCa;
  /** nginx's certificate (followed by the CA's, as payguard sends its chain) and key, PEM files */
  serverCertFile: string;
  serverKeyFile: string;
  client: TlsClient;
}

export function benchTls(servername: string): BenchTls {
  const ca = makeTestCa("ec", "payguard bench CA");
  tempDirs.add(ca.dir);
  const server = issueServerCert(ca, [servername]);
  const [serverCertFile, serverKeyFile] = [join(ca.dir, "nginx.crt"), join(ca.dir, "nginx.key")];
  writeFileSync(serverCertFile, `${server.cert}${ca.cert}`);
  writeFileSync(serverKeyFile, server.key, { mode: 0o600 });
  return { servername, ca, serverCertFile, serverKeyFile, client: { servername, ca: ca.cert } };
}

/** Whether a verified GET over TLS (checkTls) answers 2xx. */
const okTls = (url: string, tls: TlsClient) => () =>
  checkTls(url, "/v1/balance", tls).then(
    () => true,
    () => false,
  );

export interface PayguardOptions {
  name: string;
  upstreamUrl: string;
  /** YAML inside `store: { … }` (a fresh journal directory and SQLite file are added); unset: the memory store. */
  store?: string;
  /** Directory for `node --cpu-prof`; unset: no profiling. */
  cpuProfDir?: string;
  /** `idempotency.ttl`; unset: 10m. */
  ttl?: string;
  /** More top-level YAML lines, such as `limits: { maxBodySize: 2mb }`. */
  config?: string[];
  /** A file for the heap probe (test/support/heap-probe.mjs): payguard's heap allocations are counted; unset: no probe. */
  heapProbe?: string;
  /** A file for the allocation probe (bench/alloc-probe.mjs): sampled on SIGUSR2, written on the next; unset: no probe. */
  allocProbe?: string;
  /**
   * Interception: the upstream becomes gateway `stripe` reached by the name `tls.servername`,
   * served on payguard's TLS listener (intercept.port) with certificates minted from `tls.ca`;
   * the Proc's url is that listener. Unset: plain HTTP on server.port.
   */
  tls?: { servername: string; ca: Pick<TestCa, "certPath" | "keyPath" | "cert"> };
}

/** payguard's process, with its admin URL and the SQLite file its store uses (when `type: sqlite`). */
export interface PayguardProc extends Proc {
  adminUrl: string;
  sqlitePath: string;
}

/** payguard from dist/ with its production log level (info: one JSON access line per request, to /dev/null). */
export async function startPayguard(options: PayguardOptions): Promise<PayguardProc> {
  // Every port is picked here: payguard's "listening" log line names url and adminUrl, not the intercept port.
  const [port, adminPort] = [await freePort(), await freePort()];
  const interceptPort = options.tls ? await freePort() : undefined;
  const dir = tempDir("payguard-bench-");
  const file = join(dir, "payguard.yaml");
  const sqlitePath = join(dir, "payguard.db");
  writeFileSync(file, payguardYaml(options, { port, adminPort, interceptPort, sqlitePath, journalDir: join(dir, "journal") }));

  const prof = options.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", options.cpuProfDir] : [];
  const probe = options.allocProbe
    ? { args: ["--import", "./bench/alloc-probe.mjs"], env: { ...process.env, ALLOC_PROBE_FILE: options.allocProbe } }
    : probed(options.heapProbe);
  const child = spawnGroup(process.execPath, [...prof, ...probe.args, "dist/main.js", "serve", "--config", file], "ignore", probe.env);
  await waitFor(`payguard (${options.name})`, ok(`http://127.0.0.1:${adminPort}/readyz`), child);
  const pid = child.pid as number;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const common = { name: options.name, pid, workerPid: pid, adminUrl, sqlitePath, stop: stopper(child) };
  if (!options.tls) return { ...common, url: `http://127.0.0.1:${port}` };
  const url = `https://127.0.0.1:${interceptPort}`;
  const tls = { servername: options.tls.servername, ca: options.tls.ca.cert };
  await waitFor(`payguard (${options.name}) over TLS`, okTls(url, tls), child);
  return { ...common, url, tls };
}

/** payguard's config for a bench target: its ports, files and the options' store and lines. */
export function payguardYaml(
  options: Omit<PayguardOptions, "name" | "cpuProfDir" | "heapProbe" | "allocProbe">,
  at: { port: number; adminPort: number; interceptPort?: number | undefined; sqlitePath: string; journalDir: string },
): string {
  const { tls } = options;
  if (tls && at.interceptPort === undefined) throw new Error("payguardYaml: interception needs at.interceptPort");
  return [
    `server: { host: 127.0.0.1, port: ${at.port} }`,
    `admin: { host: 127.0.0.1, port: ${at.adminPort} }`,
    ...(tls
      ? [
          // The same upstream, as the gateway that answers for the name (its profile is still
          // generic: a profile comes from the URL's host, not the gateway's name).
          `gateways: { stripe: { url: "${options.upstreamUrl}", hosts: [${tls.servername}], upstream: { connections: 64 } } }`,
          `intercept: { host: 127.0.0.1, port: ${at.interceptPort}, ca: { certFile: "${tls.ca.certPath}", keyFile: "${tls.ca.keyPath}" } }`,
        ]
      : [`upstream: { url: "${options.upstreamUrl}", connections: 64 }`]),
    "log: { level: info }",
    // Records of a benchmark need not outlive it (Redis expires them on its own too).
    // ≥ the default total timeout plus completion.maxDuration (10.5 min), which check requires
    `idempotency: { ttl: ${options.ttl ?? "15m"} }`,
    "shutdown: { readinessDelay: 0, drainTimeout: 5s }",
    "routes: [ { name: passthrough, path: /v1/passthrough, idempotency: { mode: off } } ]",
    `store: { ${storeSection(options.store ?? "type: memory", at.sqlitePath, at.journalDir)} }`,
    ...(options.config ?? []),
    "",
  ].join("\n");
}

/** The store section with the file each type reads (check refuses a key its type does not use). */
function storeSection(store: string, sqlitePath: string, journalDir: string): string {
  if (store.includes("type: sqlite")) return `${store}, path: "${sqlitePath}"`;
  if (store.includes("type: redis") || store.includes("type: postgres")) return `${store}, journal: { dir: "${journalDir}" }`;
  return store;
}

/** `nginx -v` output such as "nginx/1.22.1", installing nginx with apt-get first when it is not on PATH. */
export function ensureNginx(): string {
  const version = () => {
    const r = spawnSync("nginx", ["-v"], { encoding: "utf8" });
    return r.error ? undefined : (r.stderr.match(/nginx\/\S+/)?.[0] ?? r.stderr.trim());
  };
  const found = version();
  if (found) return found;
  // Debian 12: nginx-light only adds a module on top of nginx, so plain nginx is the smaller one.
  console.log("nginx is not on PATH: running `apt-get update && apt-get install -y nginx` (Debian package, needs root) …");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", "nginx"]]) {
    const r = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
  // The package's postinst starts the system service on :80; the benchmark runs its own.
  if (existsSync("/run/nginx.pid")) {
    console.log("stopping the nginx service the package started (nginx -s quit) …");
    spawnSync("nginx", ["-s", "quit"], { stdio: "inherit" });
  }
  const installed = version();
  if (!installed) throw new Error("nginx still not on PATH after apt-get install");
  console.log(`installed ${installed}`);
  return installed;
}

/**
 * nginx as a plain reverse proxy to `upstreamUrl`, in the foreground with one worker, keep-alive to
 * the upstream, and one JSON access-log line per request written to /dev/null (as payguard does).
 * With `tls`, it terminates TLS for `tls.servername` with the certificate `tls.ca` signed (HTTP/1.1):
 * TLS 1.2 and 1.3 as Node's defaults for payguard (nginx before 1.23.4 leaves 1.3 off by
 * default, and a client then gets 1.2), each side's default ciphers.
 */
export async function startNginx(upstreamUrl: string, tls?: BenchTls): Promise<Proc> {
  const port = await freePort();
  const dir = tempDir("payguard-bench-nginx-");
  const upstream = new URL(upstreamUrl).host;
  const listen = tls
    ? [
        `listen 127.0.0.1:${port} ssl;`,
        `server_name ${tls.servername};`,
        `ssl_certificate ${tls.serverCertFile};`,
        `ssl_certificate_key ${tls.serverKeyFile};`,
        "ssl_protocols TLSv1.2 TLSv1.3;",
      ]
    : [`listen 127.0.0.1:${port};`];
  const file = join(dir, "nginx.conf");
  writeFileSync(
    file,
    `user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  log_format json escape=json '{"time":"$time_iso8601","request_id":"$http_x_request_id","method":"$request_method",'
    '"path":"$uri","status":$status,"bytes":$body_bytes_sent,"ms":$request_time,"upstream_ms":"$upstream_response_time"}';
  access_log /dev/null json;
  keepalive_requests 1000000;
  upstream gateway { server ${upstream}; keepalive 64; }
  server {
    ${listen.join("\n    ")}
    location / {
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  const child = spawnGroup("nginx", ["-p", dir, "-c", file, "-g", "daemon off;"], "ignore");
  const url = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  await waitFor("nginx", tls ? okTls(url, tls.client) : ok(`${url}/v1/balance`), child);
  const pid = child.pid as number;
  const workers = childrenOf(pid);
  if (workers.length !== 1) throw new Error(`expected one nginx worker, found ${workers.length}`);
  const name = tls ? "nginx (TLS)" : "nginx";
  return { name, pid, workerPid: workers[0] as number, url, ...(tls ? { tls: tls.client } : {}), stop: stopper(child) };
}

/** Fields of /proc/<pid>/stat after the command name (index 0 is field 3, "state"). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))[1]) === pid) found.push(Number(entry));
    } catch {}
  }
  return found;
}

let ticks: number | undefined;
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** utime + stime of a process (all its threads), in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** Resets the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0, `clear_refs` 5); false where not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Write syscalls (write, writev, …) a process has made: `syscw` of /proc/<pid>/io. */
export function writeSyscalls(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/io`, "utf8").match(/^syscw:\s+(\d+)/m)?.[1]);
}

/** Current RSS (VmRSS) in MiB. */
export function rssMiB(pid: number): number {
  const kb = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1];
  return Number(kb) / 1024;
}

/** Peak RSS (VmHWM) in MiB. */
export function peakRssMiB(pid: number): number {
  const kb = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmHWM:\s+(\d+)\s+kB/m)?.[1];
  return Number(kb) / 1024;
}

/** Drops the schema a benchmark's PostgreSQL store created (best effort, with psql). */
export function dropPostgresSchema(url: string, schema: string): void {
  spawnSync("psql", [url, "-qc", `DROP SCHEMA IF EXISTS ${schema} CASCADE`], { stdio: "ignore" });
}

/** Deletes the keys a benchmark left in Redis under `prefix` (best effort, with redis-cli). */
export function deleteRedisKeys(redisUrl: string, prefix: string): void {
  const keys = spawnSync("redis-cli", ["-u", redisUrl, "--scan", "--pattern", `${prefix}*`], { encoding: "utf8" });
  if (keys.status !== 0) return;
  const list = keys.stdout.split("\n").filter(Boolean);
  for (let i = 0; i < list.length; i += 1000) spawnSync("redis-cli", ["-u", redisUrl, "unlink", ...list.slice(i, i + 1000)], { stdio: "ignore" });
}

/**
 * A sink in the bench process: answers 200 to anything after reading it. payguard exports
 * its spans to it (the traced row) and delivers webhook events to it (the webhook rows), so
 * neither waits on a real collector or service.
 */
export async function startSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer((req, res) => {
    req.resume().on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The Stripe signing secret of the webhook rows' endpoint. */
export const BENCH_WEBHOOK_SECRET = "whsec_bench_0123456789abcdef";

/**
 * A payguard whose webhook listener takes Stripe events on /webhooks/stripe and delivers them
 * to `deliverTo`; the Proc's url is the webhook listener (the rows measure receiving).
 */
export async function startWebhookPayguard(options: Omit<PayguardOptions, "tls">, deliverTo: string): Promise<PayguardProc> {
  const port = await freePort();
  const webhooks = `webhooks: { host: 127.0.0.1, port: ${port}, endpoints: [ { gateway: default, scheme: stripe, path: /webhooks/stripe, secret: "${BENCH_WEBHOOK_SECRET}", deliverTo: "${deliverTo}" } ] }`;
  const proc = await startPayguard({ ...options, config: [...(options.config ?? []), webhooks] });
  return { ...proc, url: `http://127.0.0.1:${port}` };
}
