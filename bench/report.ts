/**
 * The benchmark's output: Markdown tables (printed and written to RESULTS.md), the targets
 * with met / not met, and an SVG bar chart of the ratios vs their targets rendered to PNG
 * with resvg.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { writePng } from "./curves/png.js";
import type { Sample } from "./load.js";

export interface Row {
  target: string;
  scenario: string;
  rps: number;
  p50: number;
  p99: number;
  cpuPer1k: number;
  /** write syscalls of the process per response (to the client, to the upstream, log batches) */
  writesPerRequest: number;
  /** kB of JavaScript heap allocated per response (NaN where the target ran without the heap probe) */
  heapKBPerRequest: number;
  rssMiB: number;
  /** VmHWM was reset before each run, so rssMiB is the peak during the runs (else: since start) */
  rssIsRunPeak: boolean;
  /** req/s of each round */
  rounds: number[];
}

export interface FixedRate {
  engine: "autocannon" | "paced";
  target: string;
  scenario: string;
  sample: Sample;
}

export interface ReportInput {
  rows: Row[];
  fixed: FixedRate[];
  params: { duration: number; connections: number; rounds: number; warmup: number; rate: number; rateDuration: number; rateConnections: number };
  nginxVersion: string;
  /** the TLS cells: the name the client asked for, and the protocol and cipher each target negotiated */
  tls: { servername: string; negotiated: { nginx: string; payguard: string } };
  /** the subset of cells run (`--only`); unset: all */
  only: string | undefined;
  /** RSS in MiB of some targets before any load, by target name */
  idleRss: Record<string, number>;
  redisUrl: string | undefined;
  postgresUrl: string | undefined;
  out: string;
  seconds: number;
}

interface Target {
  name: string;
  measured: number;
  goal: number;
  /** "min": measured ≥ goal; "max": measured ≤ goal */
  kind: "min" | "max";
  unit: string;
  ratio: boolean;
  /** label under the bar in the chart */
  short?: string;
}

const f = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function find(rows: Row[], target: string, scenario: string): Row | undefined {
  return rows.find((r) => r.target === target && r.scenario === scenario);
}

function targets(input: ReportInput): Target[] {
  const { rows, fixed } = input;
  const rps = (target: string, scenario: string) => find(rows, target, scenario)?.rps ?? Number.NaN;
  const ratio = (name: string, short: string, a: number, b: number, goal: number): Target => ({
    name,
    short,
    measured: a / b,
    goal,
    kind: "min",
    unit: "×",
    ratio: true,
  });
  /** p-th percentile of `target` (default payguard) for `scenario` at the fixed rate, minus direct's (a new-key POST against direct's POST). */
  const added = (engine: FixedRate["engine"], at: "p50" | "p99" | "p999", target = "payguard", scenario = "GET pass-through") => {
    const of = (name: string, s: string) => fixed.find((x) => x.engine === engine && x.target === name && x.scenario === s)?.sample[at] ?? Number.NaN;
    const directScenario = scenario === "GET pass-through" ? scenario : "POST 1 KB, idempotency off";
    return of(target, scenario) - of("direct", directScenario);
  };
  const of = (target: string, scenario: string, field: "cpuPer1k" | "heapKBPerRequest" | "rssMiB" | "writesPerRequest") =>
    find(rows, target, scenario)?.[field] ?? Number.NaN;
  const peakRss = (target: string) => Math.max(...rows.filter((r) => r.target === target).map((r) => r.rssMiB));
  const rate = `${input.params.rate} req/s`;
  const max = (name: string, measured: number, goal: number, unit: string, short?: string): Target => ({
    name,
    measured,
    goal,
    kind: "max",
    unit,
    ratio: short !== undefined,
    ...(short ? { short } : {}),
  });
  const floorGet = ["node floor", "GET pass-through"] as const;
  return [
    max(
      "GET pass-through, CPU per request: payguard / floor",
      of("payguard", "GET pass-through", "cpuPer1k") / of(...floorGet, "cpuPer1k"),
      2,
      "×",
      "GET: payguard / floor CPU per request",
    ),
    ratio("GET pass-through, throughput: payguard / floor", "GET: payguard / floor req/s", rps("payguard", "GET pass-through"), rps(...floorGet), 0.6),
    max(
      "new-key POST on the default store (SQLite), CPU per request: payguard / floor's POST",
      of("payguard (SQLite)", "POST 1 KB, new key each", "cpuPer1k") / of("node floor", "POST 1 KB, idempotency off", "cpuPer1k"),
      3,
      "×",
      "new-key POST (SQLite) / floor CPU per request",
    ),
    max(`added p99 over direct, GET at ${rate} (paced)`, added("paced", "p99"), 1, "ms"),
    max(`added p99 over direct, new-key POST on SQLite at ${rate} (paced)`, added("paced", "p99", "payguard (SQLite)", "POST 1 KB, new key each"), 3, "ms"),
    max("write syscalls per new-key POST on SQLite (payguard)", of("payguard (SQLite)", "POST 1 KB, new key each", "writesPerRequest"), 8, ""),
    max("heap allocated per pass-through GET (payguard)", of("payguard", "GET pass-through", "heapKBPerRequest"), 30, "kB"),
    // Tracing on, 100 % sampled, exported (OTLP/HTTP) to a sink: the same config as payguard otherwise.
    max(
      "tracing on (100 % sampled) / off, CPU per pass-through GET",
      of("payguard (traced)", "GET pass-through", "cpuPer1k") / of("payguard", "GET pass-through", "cpuPer1k"),
      1.15,
      "×",
      "GET: traced / untraced CPU per request",
    ),
    max(
      "tracing on (100 % sampled) / off, CPU per new-key POST (memory store)",
      of("payguard (traced)", "POST 1 KB, new key each", "cpuPer1k") / of("payguard", "POST 1 KB, new key each", "cpuPer1k"),
      1.15,
      "×",
      "new-key POST: traced / untraced CPU per request",
    ),
    // payguard on its default store: the memory store's process also holds every record of its
    // new-key cells in its heap, which says nothing about the proxy's own footprint.
    max(
      "peak RSS under the bench load: payguard (default store) / floor",
      peakRss("payguard (SQLite)") / peakRss("node floor"),
      1.3,
      "×",
      "peak RSS: payguard (SQLite) / floor",
    ),
    // The floor writes each answer in one piece, plus one write to the gateway: 2 per request.
    // Headers and body written apart would be ~1.5 ×; log batches add a few per cent.
    max(
      "write syscalls per pass-through GET: payguard / floor",
      of("payguard", "GET pass-through", "writesPerRequest") / of(...floorGet, "writesPerRequest"),
      1.05,
      "×",
      "GET: write syscalls payguard / floor",
    ),
    ratio(
      "pass-through GET: payguard / nginx",
      "GET pass-through: payguard / nginx",
      rps("payguard", "GET pass-through"),
      rps("nginx", "GET pass-through"),
      0.5,
    ),
    // The plain GET's goal: terminating TLS should not widen payguard's gap to nginx.
    ratio(
      "pass-through GET over TLS (keep-alive): payguard / nginx",
      "GET over TLS: payguard / nginx",
      rps("payguard (TLS)", "GET pass-through"),
      rps("nginx (TLS)", "GET pass-through"),
      0.5,
    ),
    ratio(
      "idempotent POST (new keys) / own POST pass-through",
      "POST new keys / POST pass-through",
      rps("payguard", "POST 1 KB, new key each"),
      rps("payguard", "POST 1 KB, idempotency off"),
      0.8,
    ),
    ratio(
      "replay / own POST pass-through",
      "POST replay / POST pass-through",
      rps("payguard", "POST 1 KB, replay (one key)"),
      rps("payguard", "POST 1 KB, idempotency off"),
      1.2,
    ),
    ratio(
      "SQLite / memory (new keys)",
      "new keys: SQLite / memory store",
      rps("payguard (SQLite)", "POST 1 KB, new key each"),
      rps("payguard", "POST 1 KB, new key each"),
      0.7,
    ),
    ratio(
      "PostgreSQL / memory (new keys)",
      "new keys: PostgreSQL / memory store",
      rps("payguard (PostgreSQL)", "POST 1 KB, new key each"),
      rps("payguard", "POST 1 KB, new key each"),
      0.4,
    ),
    ratio(
      "Redis / memory (new keys)",
      "new keys: Redis / memory store",
      rps("payguard (Redis)", "POST 1 KB, new key each"),
      rps("payguard", "POST 1 KB, new key each"),
      0.6,
    ),
  ];
}

function met(t: Target): string {
  if (!Number.isFinite(t.measured)) return "not measured";
  return (t.kind === "min" ? t.measured >= t.goal : t.measured <= t.goal) ? "met" : "**not met**";
}

function tables(input: ReportInput): string {
  const { rows, fixed, params } = input;
  const throughput = table(
    ["target", "scenario", "req/s (median)", "p50 ms", "p99 ms", "CPU s / 1k req", "writes / req", "heap kB / req", "peak RSS MiB", "req/s per round"],
    rows.map((r) => [
      r.target,
      r.scenario,
      f(r.rps, 0),
      f(r.p50, 2),
      f(r.p99, 2),
      f(r.cpuPer1k, 3),
      f(r.writesPerRequest, 2),
      Number.isFinite(r.heapKBPerRequest) ? f(r.heapKBPerRequest, 1) : "",
      `${f(r.rssMiB, 0)}${r.rssIsRunPeak ? "" : "†"}`,
      r.rounds.map((x) => x.toFixed(0)).join(", "),
    ]),
  );
  const direct = (engine: string, scenario: string) =>
    fixed.find(
      (x) => x.engine === engine && x.target === "direct" && (x.scenario === scenario || (scenario.startsWith("POST") && x.scenario.startsWith("POST"))),
    );
  const fixedTable = table(
    ["load", "target", "scenario", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "added p50 ms", "added p99 ms", "added p99.9 ms"],
    fixed.map((x) => {
      const base = direct(x.engine, x.scenario);
      const add = (at: "p50" | "p99" | "p999") => (base && x.target !== "direct" ? f(x.sample[at] - base.sample[at], 3) : "");
      return [
        x.engine,
        x.target,
        x.scenario,
        f(x.sample.rps, 0),
        f(x.sample.p50, 3),
        f(x.sample.p99, 3),
        f(x.sample.p999, 3),
        add("p50"),
        add("p99"),
        add("p999"),
      ];
    }),
  );
  const ts = targets(input);
  const targetTable = table(
    ["target", "measured", "goal", "result"],
    ts.map((t) => [t.name, `${f(t.measured, t.ratio ? 2 : 3)} ${t.unit}`, `${t.kind === "min" ? "≥" : "≤"} ${t.goal} ${t.unit}`, met(t)]),
  );
  return [
    `### Throughput (${params.connections} connections, ${params.duration} s × ${params.rounds} rounds, medians)`,
    "",
    throughput,
    "",
    rows.some((r) => !r.rssIsRunPeak) ? "† peak since the process started (VmHWM could not be reset)\n" : "",
    `### Fixed rate (${params.rate} req/s, ${params.rateConnections} connections, ${params.rateDuration} s split over ${params.rounds} interleaved rounds, medians; added = minus direct)`,
    "",
    fixedTable,
    "",
    "### Goals",
    "",
    "Each figure is from this one run; ratios are payguard over the floor (bench/floor.ts) or nginx measured in the same run.",
    "",
    targetTable,
    "",
    `Idle RSS (after start, before any load): ${Object.entries(input.idleRss)
      .map(([name, mib]) => `${name} ${f(mib, 0)} MiB`)
      .join(", ")}.`,
    "",
    "### Webhooks received",
    "",
    "Stripe events, each with a new id, signed by stripe-node's own helper, posted to the webhook listener: verified, stored (SQLite: a durable file; PostgreSQL: committed), acknowledged, then delivered to a sink. Measured last, after the fixed-rate runs, as closed-loop rounds like the others; each round ends once every stored event is delivered, so the deliveries in the background load no other cell. Against the same store's new-key POST, each a payment written before its answer.",
    "",
    webhookTable(rows),
    "",
    "### TLS termination",
    "",
    `Pass-through GETs over HTTPS (HTTP/1.1) as \`${input.tls.servername}\` (SNI and Host) to 127.0.0.1: nginx with \`listen … ssl\` and a certificate for that name, payguard's interception listener minting one from the CA it is given; both ECDSA P-256, signed by the same CA, served with the CA as chain; the client trusts only that CA. Negotiated: nginx ${input.tls.negotiated.nginx}, payguard ${input.tls.negotiated.payguard}. Both in front of the same plain-HTTP upstream as the rows without TLS, keep-alive to it; payguard (TLS) has the same settings as payguard, its upstream as gateway \`stripe\` (generic profile) for that name. "keep-alive": autocannon's ${params.connections} connections stay open for the whole run, so ${params.connections} handshakes a run and the figures are per request; "new connection each": every request on a new connection, a full handshake with no session resumption (node:https, \`Connection: close\`; the client's handshakes share the 2 cores, so req/s there is the client's as much as the target's — compare CPU per request).`,
    "",
    tlsTable(rows),
    "",
    "### Against the Node floor",
    "",
    "`node floor` (bench/floor.ts) is the least a Node proxy on this stack does: node:http in, one undici Pool out, no policies, no idempotency, no metrics, no logs. What payguard keeps of it:",
    "",
    floorTable(rows),
    "",
  ].join("\n");
}

function webhookTable(rows: Row[]): string {
  const stores: [string, string][] = [
    ["SQLite", "payguard (SQLite)"],
    ["PostgreSQL", "payguard (PostgreSQL)"],
  ];
  return table(
    ["store", "events/s", "p99 ms", "CPU s / 1k events", "events/s / new-key POST req/s (same store)", "CPU per event / per new-key POST"],
    stores.map(([store, target]) => {
      const hooks = find(rows, `payguard (${store}, webhooks)`, "webhook event (Stripe), new id each");
      const post = find(rows, target, "POST 1 KB, new key each");
      return [
        store,
        f(hooks?.rps ?? Number.NaN, 0),
        f(hooks?.p99 ?? Number.NaN, 2),
        f(hooks?.cpuPer1k ?? Number.NaN, 3),
        f((hooks?.rps ?? Number.NaN) / (post?.rps ?? Number.NaN), 2),
        f((hooks?.cpuPer1k ?? Number.NaN) / (post?.cpuPer1k ?? Number.NaN), 2),
      ];
    }),
  );
}

function tlsTable(rows: Row[]): string {
  const lines: [string, string, string][] = [
    ["plain HTTP, keep-alive", "", "GET pass-through"],
    ["TLS, keep-alive", " (TLS)", "GET pass-through"],
    ["TLS, new connection each", " (TLS)", "GET pass-through, new TLS connection each"],
  ];
  const plain = (target: string) => find(rows, target, "GET pass-through")?.cpuPer1k ?? Number.NaN;
  return table(
    [
      "client connections",
      "nginx req/s",
      "payguard req/s",
      "req/s payguard / nginx",
      "nginx CPU s / 1k",
      "payguard CPU s / 1k",
      "CPU per request payguard / nginx",
      "CPU s / 1k TLS adds: nginx, payguard",
    ],
    lines.map(([label, suffix, scenario]) => {
      const nginx = find(rows, `nginx${suffix}`, scenario);
      const pg = find(rows, `payguard${suffix}`, scenario);
      const [nginxCpu, pgCpu] = [nginx?.cpuPer1k ?? Number.NaN, pg?.cpuPer1k ?? Number.NaN];
      return [
        label,
        f(nginx?.rps ?? Number.NaN, 0),
        f(pg?.rps ?? Number.NaN, 0),
        f((pg?.rps ?? Number.NaN) / (nginx?.rps ?? Number.NaN), 2),
        f(nginxCpu, 3),
        f(pgCpu, 3),
        f(pgCpu / nginxCpu, 2),
        suffix ? `${f(nginxCpu - plain("nginx"), 3)}, ${f(pgCpu - plain("payguard"), 3)}` : "",
      ];
    }),
  );
}

function floorTable(rows: Row[]): string {
  const pairs: [string, string][] = [
    ["GET pass-through", "GET pass-through"],
    ["POST 1 KB, idempotency off", "POST 1 KB, idempotency off"],
    ["POST 1 KB, new key each", "POST 1 KB, idempotency off"],
  ];
  return table(
    ["payguard scenario", "payguard / floor req/s", "payguard CPU s / 1k", "floor CPU s / 1k", "nginx CPU s / 1k"],
    pairs.map(([scenario, base]) => {
      const pg = find(rows, "payguard", scenario);
      const floor = find(rows, "node floor", base);
      const nginx = find(rows, "nginx", base);
      return [
        scenario,
        f((pg?.rps ?? Number.NaN) / (floor?.rps ?? Number.NaN), 2),
        f(pg?.cpuPer1k ?? Number.NaN, 3),
        f(floor?.cpuPer1k ?? Number.NaN, 3),
        f(nginx?.cpuPer1k ?? Number.NaN, 3),
      ];
    }),
  );
}

function machine(input: ReportInput): string {
  const cpu = cpus();
  const p = input.params;
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (shared by the load generator, upstream and proxies)`,
    `- node ${process.version}, ${input.nginxVersion}${input.redisUrl ? `, Redis at ${input.redisUrl}` : ", no Redis"}${input.postgresUrl ? `, PostgreSQL at ${input.postgresUrl}` : ", no PostgreSQL"}`,
    `- load: autocannon, ${p.connections} connections, ${p.duration} s per run, ${p.rounds} rounds interleaved over all (target, scenario) cells, ${p.warmup} s warm-up per cell; medians`,
    `- fixed rate: ${p.rate} req/s for ${p.rateDuration} s (split over the rounds) over ${p.rateConnections} connections, (a) autocannon \`overallRate\` — which sends each connection's per-second quota back to back, so bursts — and (b) an evenly paced open loop (latency from the moment each request is issued); latencies in ms with sub-ms precision from each response`,
    "- nginx: `worker_processes 1` (payguard is one Node process), keep-alive to the upstream (`keepalive 64`, HTTP/1.1), one JSON access-log line per request to /dev/null (payguard: pino JSON to /dev/null); CPU and RSS are its worker's",
    `- TLS: nginx (system OpenSSL) with \`ssl_protocols TLSv1.2 TLSv1.3\` (Node's default range) and its default ciphers, payguard (Node's OpenSSL ${process.versions.openssl}) with Node's defaults; ECDSA P-256 certificates from one CA for ${input.tls.servername}; negotiated nginx ${input.tls.negotiated.nginx}, payguard ${input.tls.negotiated.payguard}`,
    ...(input.only ? [`- only the \`${input.only}\` cells (\`--only ${input.only}\`): no fixed-rate runs, other rows not measured`] : []),
    "- payguard: `dist/` as built by this run, log level info; CPU = utime+stime from /proc/<pid>/stat around each run ÷ responses; peak RSS = VmHWM, reset before each run",
    `- whole run took ${input.seconds.toFixed(0)} s`,
  ].join("\n");
}

function svg(ts: Target[]): string {
  const ratios = ts.filter((t) => t.ratio);
  const [w, h, left, top, bottom] = [720, 380, 60, 50, 70];
  const max = Math.max(1.5, ...ratios.flatMap((t) => [t.goal, Number.isFinite(t.measured) ? t.measured : 0])) * 1.1;
  const y = (v: number) => top + (h - top - bottom) * (1 - v / max);
  const slot = (w - left - 20) / ratios.length;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${w / 2}" y="28" font-size="17" text-anchor="middle" font-weight="bold">payguard ratios (bars) vs targets (red lines)</text>`,
  ];
  for (let v = 0; v <= max; v += 0.25) {
    parts.push(`<line x1="${left}" x2="${w - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 8}" y="${y(v) + 4}" font-size="11" text-anchor="end" fill="#555">${v.toFixed(2)}</text>`);
  }
  ratios.forEach((t, i) => {
    const x = left + i * slot + slot * 0.2;
    const bw = slot * 0.6;
    const m = Number.isFinite(t.measured) ? t.measured : 0;
    const ok = met(t) === "met";
    parts.push(`<rect x="${x}" y="${y(m)}" width="${bw}" height="${y(0) - y(m)}" fill="${ok ? "#4c9a5a" : "#d9822b"}"/>`);
    parts.push(
      `<text x="${x + bw / 2}" y="${y(m) - 6}" font-size="13" text-anchor="middle">${Number.isFinite(t.measured) ? t.measured.toFixed(2) : "n/a"}</text>`,
    );
    parts.push(`<line x1="${x - 8}" x2="${x + bw + 8}" y1="${y(t.goal)}" y2="${y(t.goal)}" stroke="#c0392b" stroke-width="3"/>`);
    parts.push(`<text x="${x + bw + 11}" y="${y(t.goal) + 4}" font-size="12" fill="#c0392b">≥ ${t.goal}</text>`);
    const words = (t.short ?? t.name).split(" ");
    const lines: string[] = [""];
    for (const word of words) {
      const last = lines.length - 1;
      if (((lines[last] as string) + word).length > 22) lines.push(word);
      else lines[last] = `${lines[last]} ${word}`.trim();
    }
    lines.forEach((line, j) => {
      parts.push(
        `<text x="${x + bw / 2}" y="${y(0) + 18 + j * 14}" font-size="12" text-anchor="middle">${line.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</text>`,
      );
    });
  });
  parts.push(`<line x1="${left}" x2="${w - 20}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`, "</svg>");
  return parts.join("\n");
}

export async function report(input: ReportInput): Promise<void> {
  const body = tables(input);
  mkdirSync(dirname(input.out), { recursive: true });
  console.log(`\n${body}`);
  const chart = await writePng(svg(targets(input)), join(dirname(input.out), "ratios.png"));
  const md = [
    "# payguard benchmark results",
    "",
    "Written by `npm run bench` (bench/run.ts).",
    "",
    machine(input),
    "",
    body,
    `![ratios vs targets](${chart.slice(dirname(input.out).length + 1)})`,
    "",
  ];
  writeFileSync(input.out, md.join("\n"));
  console.log(`wrote ${input.out} and ${chart}; took ${input.seconds.toFixed(0)} s`);
}
