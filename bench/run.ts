/**
 * `npm run bench`: requests/s and latency directly against the fake gateway and through
 * payguard, in one run on one machine, reported as ratios. Each party is its own process.
 * Absolute numbers depend on the machine; compare ratios within one run only.
 *
 *   npm run bench -- --duration 5 --connections 32
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import autocannon from "autocannon";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    warmup: { type: "string", default: "1" },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const warmup = Number(values.warmup);

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

/** Starts a process and resolves with the first stdout line that matches. */
function startProcess(args: string[], pick: (line: string) => string | undefined): Promise<string> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const found = pick(line);
      if (found) resolve(found);
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** payguard from dist/ with its production log level (info: one access-log line per request, to /dev/null). */
/** `store` is extra YAML for the store section; default: the memory store. */
async function startPayguard(upstreamUrl: string, store = ""): Promise<string> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "payguard-bench-"));
  const file = join(dir, "payguard.yaml");
  writeFileSync(
    file,
    [
      `server: { host: 127.0.0.1, port: ${port} }`,
      `admin: { host: 127.0.0.1, port: ${adminPort} }`,
      `upstream: { url: "${upstreamUrl}", connections: 64 }`,
      "log: { level: info }",
      "routes: [ { name: passthrough, path: /v1/passthrough, idempotency: { mode: off } } ]",
      store ? `store: { ${store}, journal: { dir: "${join(dir, "journal")}" } }` : "",
      "",
    ].join("\n"),
  );
  const child = spawn(process.execPath, ["dist/main.js", "serve", "--config", file], { stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  for (let i = 0; i < 100; i++) {
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return `http://127.0.0.1:${port}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("payguard did not become ready");
}

interface Scenario {
  name: string;
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** "fresh": a new Idempotency-Key on every request; "fixed": one key for the whole run (replays) */
  key?: "fresh" | "fixed";
}

const body1k = JSON.stringify({ amount: 1999, currency: "eur", description: "x".repeat(1024 - 60) });
const json = { "content-type": "application/json", authorization: "Bearer sk_test_bench" };
const scenarios: Scenario[] = [
  { name: "GET pass-through", method: "GET", path: "/v1/balance?expand=available" },
  { name: "POST 1 KB, idempotency off", method: "POST", path: "/v1/passthrough", headers: json, body: body1k },
  { name: "POST 1 KB, new key each", method: "POST", path: "/v1/charges", headers: json, body: body1k, key: "fresh" },
  { name: "POST 1 KB, replay (one key)", method: "POST", path: "/v1/charges", headers: json, body: body1k, key: "fixed" },
];

let run = 0;
async function measure(url: string, scenario: Scenario, seconds: number) {
  const prefix = `bench-${process.pid}-${++run}`;
  let n = 0;
  const result = await autocannon({
    url: url + scenario.path,
    method: scenario.method,
    headers: scenario.headers,
    body: scenario.body,
    connections,
    duration: seconds,
    debug: process.env.BENCH_DEBUG === "1",
    requests: [
      {
        setupRequest: (req) => {
          if (!scenario.key) return req;
          const key = scenario.key === "fixed" ? prefix : `${prefix}-${++n}`;
          return { ...req, headers: { ...req.headers, "idempotency-key": key } };
        },
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${scenario.name} at ${url}: ${result.non2xx} non-2xx, ${result.errors} errors (BENCH_DEBUG=1 prints them)`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

const gatewayUrl = await startProcess(["--import", "tsx", "bench/gateway.ts"], (line) => (line.startsWith("http") ? line : undefined));
const payguardUrl = await startPayguard(gatewayUrl);
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const payguardRedisUrl = await startPayguard(gatewayUrl, `type: redis, url: "${redisUrl}", prefix: "bench-${process.pid}"`);
console.log(`gateway ${gatewayUrl}, payguard ${payguardUrl}; ${connections} connections, ${duration}s per run, node ${process.version}`);

const rows: string[] = [];
const through: Record<string, number> = {};
for (const scenario of scenarios) {
  await measure(gatewayUrl, scenario, warmup);
  await measure(payguardUrl, scenario, warmup);
  const direct = await measure(gatewayUrl, scenario, duration);
  const proxied = await measure(payguardUrl, scenario, duration);
  through[scenario.name] = proxied.rps;
  rows.push(
    `| ${scenario.name} | ${direct.rps.toFixed(0)} | ${proxied.rps.toFixed(0)} | ${(proxied.rps / direct.rps).toFixed(2)} | ${direct.p50} / ${direct.p99} | ${proxied.p50} / ${proxied.p99} |`,
  );
}
console.log("\n| scenario | direct req/s | payguard req/s | payguard / direct | direct p50/p99 ms | payguard p50/p99 ms |");
console.log("|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
const plain = through["POST 1 KB, idempotency off"] ?? Number.NaN;
console.log("\nthrough payguard, relative to its own POST pass-through (idempotency off):");
for (const name of ["POST 1 KB, new key each", "POST 1 KB, replay (one key)"]) console.log(`  ${name}: ${((through[name] ?? Number.NaN) / plain).toFixed(2)}`);

// The same keyed scenarios through a payguard whose store is Redis (the machine's).
console.log(`\nstore: Redis (${redisUrl}) vs memory, through payguard:`);
console.log("| scenario | memory req/s | redis req/s | redis / memory | redis p50/p99 ms |");
console.log("|---|---|---|---|---|");
for (const scenario of scenarios.filter((s) => s.key)) {
  await measure(payguardRedisUrl, scenario, warmup);
  const redis = await measure(payguardRedisUrl, scenario, duration);
  const memory = through[scenario.name] ?? Number.NaN;
  console.log(`| ${scenario.name} | ${memory.toFixed(0)} | ${redis.rps.toFixed(0)} | ${(redis.rps / memory).toFixed(2)} | ${redis.p50} / ${redis.p99} |`);
}
process.exit(0);
