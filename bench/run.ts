/**
 * `npm run bench`: the upstream directly, nginx as a plain reverse proxy and payguard (memory
 * store, and Redis store), each its own process, measured side by side in one run: fixed-duration
 * autocannon runs, interleaved over rounds, medians reported; CPU seconds per 1,000 requests and
 * peak RSS from /proc; a fixed-rate run for added latency; ratios against targets. Writes
 * bench/RESULTS.md and bench/ratios.png. Absolute numbers depend on the machine: compare within one run.
 * TLS termination: pass-through GETs over HTTPS to payguard's interception listener and to nginx
 * with `listen … ssl`, both as api.stripe.com with certificates from one CA, in front of the same
 * plain-HTTP upstream; on keep-alive connections, and on a new connection per request.
 *
 *   npm run bench -- --duration 5 --connections 32 --rounds 3 --warmup 1
 *   npm run bench -- --only tls       # the GET cells of nginx and payguard, plain and TLS; no fixed rate
 *   npm run bench -- --profile        # CPU profile of payguard instead: top functions by self time
 *   npm run bench -- --profile --traced   # the same with tracing on (100 % sampled)
 */
import { createConnection } from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { heapAllocated } from "../test/support/heap.js";
import { checkTls, load, median, paced, type Sample, type Scenario } from "./load.js";
import { profile } from "./profile.js";
import { type Row, report } from "./report.js";
import {
  BENCH_WEBHOOK_SECRET,
  benchTls,
  cpuSeconds,
  deleteRedisKeys,
  dropPostgresSchema,
  ensureNginx,
  killAll,
  type Proc,
  peakRssMiB,
  resetPeakRss,
  rssMiB,
  runBench,
  startFloor,
  startGateway,
  startNginx,
  startPayguard,
  startSink,
  startWebhookPayguard,
  tempDir,
  writeSyscalls,
} from "./targets.js";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    rate: { type: "string", default: "1000" },
    "rate-duration": { type: "string", default: "10" },
    "rate-connections": { type: "string", default: "10" },
    profile: { type: "boolean", default: false },
    traced: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string", default: "bench/RESULTS.md" },
  },
});
const params = {
  duration: Number(values.duration),
  connections: Number(values.connections),
  rounds: Number(values.rounds),
  warmup: Number(values.warmup),
  rate: Number(values.rate),
  rateDuration: Number(values["rate-duration"]),
  rateConnections: Number(values["rate-connections"]),
};
for (const [name, value] of Object.entries(params)) if (!(value >= 0) || (name !== "warmup" && value === 0)) throw new Error(`--${name}: not a valid number`);
const only = values.only;
if (only !== undefined && only !== "tls") throw new Error(`--only ${only}: the one subset is tls`);

process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every child`);
    killAll();
    process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
  });

const body1k = JSON.stringify({ amount: 1999, currency: "eur", description: "x".repeat(1024 - 60) });
const json = { "content-type": "application/json", authorization: "Bearer sk_test_bench" };
const scenarios = {
  get: { name: "GET pass-through", method: "GET", path: "/v1/balance?expand=available" },
  post: { name: "POST 1 KB, idempotency off", method: "POST", path: "/v1/passthrough", headers: json, body: body1k },
  fresh: { name: "POST 1 KB, new key each", method: "POST", path: "/v1/charges", headers: json, body: body1k, key: "fresh" },
  replay: { name: "POST 1 KB, replay (one key)", method: "POST", path: "/v1/charges", headers: json, body: body1k, key: "fixed" },
  getNewTls: { name: "GET pass-through, new TLS connection each", method: "GET", path: "/v1/balance?expand=available", connection: "new" },
  webhook: {
    name: "webhook event (Stripe), new id each",
    method: "POST",
    path: "/webhooks/stripe",
    headers: { "content-type": "application/json" },
    stripeEvent: { secret: BENCH_WEBHOOK_SECRET },
  },
} satisfies Record<string, Scenario>;

/** The name the TLS cells' client asks for (SNI and Host), as stripe-node does. */
const TLS_NAME = "api.stripe.com";

/** Heap-probe files of the targets started with the probe (heap bytes allocated per request). */
const probes = new Map<Proc, string>();
const probeFile = (name: string) => join(tempDir("payguard-bench-heap-"), `${name}.txt`);

/**
 * One autocannon run with, around it, the CPU time, peak RSS and write syscalls of the
 * target's (worker) process, and its heap allocations where it runs the heap probe.
 */
async function measure(target: Proc, scenario: Scenario, seconds: number, connections: number) {
  const pid = target.workerPid;
  const probe = probes.get(target);
  const rssReset = resetPeakRss(pid);
  const heap0 = probe ? await heapAllocated(pid, probe) : Number.NaN;
  const [cpu0, writes0] = [cpuSeconds(pid), writeSyscalls(pid)];
  const sample = await load(target.url, scenario, { seconds, connections, tls: target.tls });
  const [cpu, writes] = [cpuSeconds(pid) - cpu0, writeSyscalls(pid) - writes0];
  const heap = probe ? (await heapAllocated(pid, probe)) - heap0 : Number.NaN;
  const per = (n: number) => n / sample.requests;
  return { ...sample, cpuPer1k: per(cpu) * 1000, writesPerRequest: per(writes), heapKBPerRequest: per(heap) / 1000, rssMiB: peakRssMiB(pid), rssReset };
}

/** Waits until a webhook target has delivered every event it stored (at most 120 s); seconds waited. */
async function drained(target: Proc & { adminUrl?: string }): Promise<number> {
  const started = performance.now();
  const count = (text: string, metric: string, result: string) =>
    [...text.matchAll(new RegExp(`^${metric}\\{[^}]*result="${result}"[^}]*\\} (\\d+)`, "gm"))].reduce((sum, m) => sum + Number(m[1]), 0);
  while (performance.now() - started < 120_000) {
    const text = await (await fetch(`${target.adminUrl}/metrics`)).text();
    if (count(text, "payguard_webhook_deliveries_total", "delivered") >= count(text, "payguard_webhooks_received_total", "stored")) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return (performance.now() - started) / 1000;
}

/** Whether a TCP connection to the URL's host and port opens. */
function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port || defaultPort), timeout: 1000 });
    socket
      .once("connect", () => resolve(true))
      .once("error", () => resolve(false))
      .once("timeout", () => resolve(false));
    socket.once("close", () => socket.destroy());
    socket.once("connect", () => socket.end());
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  if (values.profile) {
    await profile({ ...params, scenarios: [scenarios.get, scenarios.fresh], out: values.out, traced: values.traced });
    console.log(`\ntook ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return;
  }
  const nginxVersion = ensureNginx();
  const gateway = await startGateway();
  const nginx = await startNginx(gateway.url);
  const floorProbe = probeFile("floor");
  const floor = await startFloor(gateway.url, floorProbe);
  probes.set(floor, floorProbe);
  const payguardProbe = probeFile("payguard");
  const payguard = await startPayguard({ name: "payguard", upstreamUrl: gateway.url, heapProbe: payguardProbe });
  probes.set(payguard, payguardProbe);
  const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
  const redisPrefix = `payguard-bench-${process.pid}-${Date.now()}`;
  let payguardRedis: Proc | undefined;
  if (await reachable(redisUrl, 6379))
    payguardRedis = await startPayguard({
      name: "payguard (Redis)",
      upstreamUrl: gateway.url,
      store: `type: redis, url: "${redisUrl}", prefix: "${redisPrefix}"`,
    });
  else console.log(`Redis at ${redisUrl} is not reachable: the Redis row is skipped`);
  // The default store (a durable file, synchronous: normal) and the shared system of record.
  const sqliteProbe = probeFile("payguard-sqlite");
  const payguardSqlite = await startPayguard({ name: "payguard (SQLite)", upstreamUrl: gateway.url, store: "type: sqlite", heapProbe: sqliteProbe });
  probes.set(payguardSqlite, sqliteProbe);
  const postgresUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const postgresSchema = `bench_${process.pid}`;
  let payguardPostgres: Proc | undefined;
  if (await reachable(postgresUrl, 5432))
    payguardPostgres = await startPayguard({
      name: "payguard (PostgreSQL)",
      upstreamUrl: gateway.url,
      // The database shares the 2 cores with the load generator, the gateway and payguard: a
      // statement's p99 reaches the default 250 ms deadline there, which would count as an outage.
      store: `type: postgres, url: "${postgresUrl}", postgres: { schema: ${postgresSchema} }, operationTimeout: 2s`,
    });
  else console.log(`PostgreSQL at ${postgresUrl} is not reachable: the PostgreSQL row is skipped`);
  // TLS termination in front of the same upstream: nginx's certificate and payguard's CA are one CA's.
  const tls = benchTls(TLS_NAME);
  const nginxTls = await startNginx(gateway.url, tls);
  // With the heap probe as payguard's plain row has it, so the two differ by TLS alone.
  const payguardTlsProbe = probeFile("payguard-tls");
  const payguardTls = await startPayguard({ name: "payguard (TLS)", upstreamUrl: gateway.url, tls, heapProbe: payguardTlsProbe });
  probes.set(payguardTls, payguardTlsProbe);
  // Tracing on, every trace sampled, exported to a sink in this process: against the plain row.
  const sink = await startSink();
  // With the heap probe, as the plain row has it, so the two differ by tracing alone.
  const tracedProbe = probeFile("payguard-traced");
  const payguardTraced = await startPayguard({
    name: "payguard (traced)",
    upstreamUrl: gateway.url,
    config: [`tracing: { enabled: true, endpoint: "${sink.url}/v1/traces", sampleRatio: 1 }`],
    heapProbe: tracedProbe,
  });
  probes.set(payguardTraced, tracedProbe);
  // Webhook events received (verified, stored, acknowledged; then delivered to the sink), per store.
  const webhooksSqlite = await startWebhookPayguard(
    { name: "payguard (SQLite, webhooks)", upstreamUrl: gateway.url, store: "type: sqlite" },
    `${sink.url}/events`,
  );
  const webhooksPostgres = payguardPostgres
    ? await startWebhookPayguard(
        {
          name: "payguard (PostgreSQL, webhooks)",
          upstreamUrl: gateway.url,
          store: `type: postgres, url: "${postgresUrl}", postgres: { schema: ${postgresSchema}_hooks }, operationTimeout: 2s`,
        },
        `${sink.url}/events`,
      )
    : undefined;
  // Verified as an SDK verifies the gateway (the chain to the CA, the name); what each negotiated.
  const negotiated = {
    nginx: await checkTls(nginxTls.url, scenarios.get.path, tls.client),
    payguard: await checkTls(payguardTls.url, scenarios.get.path, tls.client),
  };
  console.log(
    `gateway ${gateway.url}, nginx ${nginx.url} (${nginxVersion}), payguard ${payguard.url}${payguardRedis ? `, payguard on Redis ${payguardRedis.url}` : ""}`,
  );
  console.log(`as ${TLS_NAME}: nginx ${nginxTls.url} (${negotiated.nginx}), payguard ${payguardTls.url} (${negotiated.payguard})`);
  if (negotiated.nginx !== negotiated.payguard) console.warn("nginx and payguard negotiated different TLS: their TLS rows do not compare like for like");

  // Resident memory before any load: what a pod pays for the sidecar at rest.
  const idleRss = Object.fromEntries([floor, payguard, payguardSqlite].map((p) => [p.name, rssMiB(p.workerPid)]));

  const cells: { target: Proc; scenario: Scenario; samples: Awaited<ReturnType<typeof measure>>[] }[] = [];
  const cell = (target: Proc, scenario: Scenario) => cells.push({ target, scenario, samples: [] });
  cell(gateway, scenarios.get);
  cell(nginx, scenarios.get);
  cell(floor, scenarios.get);
  cell(payguard, scenarios.get);
  cell(gateway, scenarios.post);
  cell(nginx, scenarios.post);
  cell(floor, scenarios.post);
  cell(payguard, scenarios.post);
  cell(payguard, scenarios.fresh);
  cell(payguard, scenarios.replay);
  cell(payguardSqlite, scenarios.fresh);
  if (payguardPostgres) cell(payguardPostgres, scenarios.fresh);
  if (payguardRedis) cell(payguardRedis, scenarios.fresh);
  cell(payguardTraced, scenarios.get);
  cell(payguardTraced, scenarios.fresh);
  cell(nginxTls, scenarios.get);
  cell(payguardTls, scenarios.get);
  cell(nginxTls, scenarios.getNewTls);
  cell(payguardTls, scenarios.getNewTls);
  if (only === "tls") {
    const kept = new Set<Proc>([nginx, payguard, nginxTls, payguardTls]);
    cells.splice(0, cells.length, ...cells.filter((c) => kept.has(c.target) && (c.scenario === scenarios.get || c.scenario === scenarios.getNewTls)));
  }

  const { duration, connections, rounds, warmup } = params;
  const eta = cells.length * (warmup + rounds * duration) + (only ? 0 : 2 * 5 * params.rateDuration);
  console.log(
    `${cells.length} target × scenario cells, ${rounds} rounds of ${duration}s at ${connections} connections (+${warmup}s warm-up each); about ${eta}s of load`,
  );
  if (warmup > 0) for (const c of cells) await load(c.target.url, c.scenario, { seconds: warmup, connections, tls: c.target.tls });
  for (let round = 0; round < rounds; round++) {
    // Interleaved, and rotated each round, so drift on a shared machine hits every cell alike.
    for (let i = 0; i < cells.length; i++) {
      const c = cells[(i + round) % cells.length] as (typeof cells)[number];
      const s = await measure(c.target, c.scenario, duration, connections);
      c.samples.push(s);
      process.stdout.write(
        `round ${round + 1}/${rounds} ${c.target.name.padEnd(16)} ${c.scenario.name.padEnd(28)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} ms\n`,
      );
    }
  }

  // Fixed rate: autocannon's overallRate (a per-second quota per connection) and an evenly paced open
  // loop; the rate duration is split over the rounds, interleaved like above; medians of the rounds.
  // (--only skips it.)
  const fixedCells: { engine: "autocannon" | "paced"; target: Proc; scenario: Scenario; samples: Sample[] }[] = [];
  if (!only)
    for (const engine of ["autocannon", "paced"] as const)
      for (const [target, scenario] of [
        [gateway, scenarios.get],
        [nginx, scenarios.get],
        [payguard, scenarios.get],
        [gateway, scenarios.post],
        [payguard, scenarios.fresh],
        // the durable stores' new-key tail, paced only (bench/TAIL.md)
        ...(engine === "paced"
          ? [[payguardSqlite, scenarios.fresh] as const, ...(payguardPostgres ? [[payguardPostgres, scenarios.fresh] as const] : [])]
          : []),
      ] as const)
        fixedCells.push({ engine, target, scenario, samples: [] });
  // Targets with no fixed-rate cell stop first: an idle process that holds the records of its
  // new-key cells collects its heap when the load stops, on the cores the paced runs need.
  if (!only) await Promise.all([floor, payguardRedis, nginxTls, payguardTls, payguardTraced].map((p) => p?.stop()));
  const { rate, rateConnections } = params;
  const seconds = params.rateDuration / rounds;
  for (let round = 0; round < rounds; round++)
    for (let i = 0; i < fixedCells.length; i++) {
      const c = fixedCells[(i + round) % fixedCells.length] as (typeof fixedCells)[number];
      const s =
        c.engine === "paced"
          ? await paced(c.target.url, c.scenario, rate, seconds, rateConnections)
          : await load(c.target.url, c.scenario, { seconds, connections: rateConnections, overallRate: rate });
      c.samples.push(s);
      console.log(
        `round ${round + 1}/${rounds} ${rate} req/s ${c.engine.padEnd(10)} ${c.target.name.padEnd(9)} ${c.scenario.name.padEnd(28)} ${s.rps.toFixed(0).padStart(5)} req/s  p50 ${s.p50.toFixed(3)} p99 ${s.p99.toFixed(3)} ms`,
      );
    }
  const fixed = fixedCells.map((c) => ({
    engine: c.engine,
    target: c.target.name,
    scenario: c.scenario.name,
    sample: {
      rps: median(c.samples.map((s) => s.rps)),
      requests: c.samples.reduce((sum, s) => sum + s.requests, 0),
      p50: median(c.samples.map((s) => s.p50)),
      p99: median(c.samples.map((s) => s.p99)),
      p999: median(c.samples.map((s) => s.p999)),
    },
  }));

  // Webhooks last: each event stored is then delivered in the background, which would load the
  // machine under every other cell. Each round ends once the inbox is drained (delivered to the sink).
  for (const target of only ? [] : [webhooksSqlite, webhooksPostgres]) {
    if (!target) continue;
    const c = { target, scenario: scenarios.webhook, samples: [] as Awaited<ReturnType<typeof measure>>[] };
    if (warmup > 0) await load(target.url, c.scenario, { seconds: warmup, connections });
    await drained(target);
    for (let round = 0; round < rounds; round++) {
      const s = await measure(target, c.scenario, duration, connections);
      c.samples.push(s);
      const drainedIn = await drained(target);
      console.log(
        `round ${round + 1}/${rounds} ${target.name} ${c.scenario.name} ${s.rps.toFixed(0)} events/s  p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} ms; delivered ${drainedIn.toFixed(1)} s later`,
      );
    }
    cells.push(c);
  }

  const rows: Row[] = cells.map((c) => ({
    target: c.target.name,
    scenario: c.scenario.name,
    rps: median(c.samples.map((s) => s.rps)),
    p50: median(c.samples.map((s) => s.p50)),
    p99: median(c.samples.map((s) => s.p99)),
    cpuPer1k: median(c.samples.map((s) => s.cpuPer1k)),
    writesPerRequest: median(c.samples.map((s) => s.writesPerRequest)),
    heapKBPerRequest: median(c.samples.map((s) => s.heapKBPerRequest)),
    rssMiB: Math.max(...c.samples.map((s) => s.rssMiB)),
    rssIsRunPeak: c.samples.every((s) => s.rssReset),
    rounds: c.samples.map((s) => s.rps),
  }));

  await Promise.all(
    [
      gateway,
      nginx,
      floor,
      payguard,
      payguardSqlite,
      payguardPostgres,
      payguardRedis,
      nginxTls,
      payguardTls,
      payguardTraced,
      webhooksSqlite,
      webhooksPostgres,
    ].map((p) => p?.stop()),
  );
  await sink.close();
  if (payguardRedis) deleteRedisKeys(redisUrl, redisPrefix);
  if (payguardPostgres) dropPostgresSchema(postgresUrl, postgresSchema);
  if (webhooksPostgres) dropPostgresSchema(postgresUrl, `${postgresSchema}_hooks`);
  await report({
    rows,
    fixed,
    params,
    nginxVersion,
    tls: { servername: TLS_NAME, negotiated },
    only,
    idleRss,
    redisUrl: payguardRedis ? redisUrl : undefined,
    postgresUrl: payguardPostgres ? postgresUrl : undefined,
    out: values.out,
    seconds: (performance.now() - started) / 1000,
  });
}

runBench(main);
