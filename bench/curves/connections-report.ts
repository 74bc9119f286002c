/** Curve 3's table (errors must be 0) and chart. */
import type { Params } from "./args.js";
import { failures as runFailures } from "./cannon.js";
import { f, table } from "./format.js";
import { BATCH } from "./hold.js";
import { WARM_MS } from "./hold-loop.js";
import type { Point } from "./measure.js";
import type { Section } from "./section.js";
import { type ByPhase, DROP_PHASES, PHASES, phaseCells } from "./tally.js";

export function bulkheadLine(params: Params): string {
  const most = Math.max(...params.connections);
  return `resilience: { bulkhead: { maxConcurrent: ${most}, maxQueue: ${most} } }`;
}

export interface ConnectionsPoint {
  target: string;
  connections: number;
  point: Point;
  /** fewest connections open at the start of a measured window, over the runs */
  connected: number;
  rampMs: number;
  /** the errors, by phase, summed over the runs */
  errorsBy: ByPhase;
  /** connections closed before the end of a run, by phase, summed over the runs */
  dropsBy: ByPhase;
}

interface Input {
  points: ConnectionsPoint[];
  params: Params;
  failures: string[];
  ms: number;
}

function connectionsTable(points: ConnectionsPoint[]): string {
  return table(
    [
      "target",
      "connections",
      "open when measured",
      "opened in",
      "req/s",
      "p50 ms",
      "p99 ms",
      "max ms",
      "non-2xx",
      `errors incl. timeouts (${PHASES.join(" / ")})`,
      "of them timeouts",
      `connections closed while running (${DROP_PHASES.join(" / ")})`,
      "idle RSS MiB",
      "peak RSS MiB",
      "CPU ms / req",
    ],
    points.map(({ target, connections, connected, rampMs, errorsBy, dropsBy, point: p }) => [
      target,
      String(connections),
      String(connected),
      `${f(rampMs / 1000, 1)} s`,
      f(p.rps, 0),
      f(p.p50, 1),
      f(p.p99, 1),
      f(p.max, 0),
      String(p.non2xx),
      `${p.errors} (${phaseCells(errorsBy)})`,
      String(p.timeouts),
      phaseCells(dropsBy, DROP_PHASES),
      f(p.idleRssMiB, 0),
      `${f(p.peakRssMiB, 0)}${p.rssReset ? "" : "†"}`,
      f(p.cpuMsPerReq, 3),
    ]),
  );
}

function notes(params: Params): string[] {
  return [
    `GET /v1/balance passed through, over N concurrent keep-alive connections, each sending its next request when its answer is in; req/s and latencies from the responses completed inside the measured window, whenever sent; ${params.rounds} run(s) of ${params.seconds} s per point, payguard and the floor interleaved, after ${params.warmup} s of warm-up once every connection is open; medians (max: of all runs; failures: summed).`,
    `Driver: bench/curves/hold.ts — one undici Client and one request loop per connection (an undici Pool gives each request to its first free connection, so its last ones can sit idle). The connections are opened in batches of ${BATCH}, the next batch only once every connection of the previous one has had an answer; while the rest are opening, each open connection sends a request every ${(0.75 * WARM_MS) / 1000}–${WARM_MS / 1000} s (payguard's server, on Node's default keepAliveTimeout, closes a connection idle for 5 s; the floor after 10 s), and only then does every loop go flat out (warm-up, then the window). Not autocannon, which opens all its connections at once at the start of every run: with 5,000 that overflows the listen backlog, and a 3 s smoke run against payguard got 179 answers, p50 4.6 s, all of it connection set-up.`,
    "Why an answer and not just \"connected\": the previous driver moved on as soon as the client saw a connection set up, while payguard — busy serving the connections already open — accepted more slowly than they came; its accept queue overflowed (thousands of ListenOverflows per second in /proc/net/netstat), the kernel dropped connections it had never accepted, and the client's request on such a connection was answered with a RST: 128–429 ECONNRESETs per run at 3,000–5,000 connections in smoke runs, each matched one to one by the kernel's SyncookiesFailed, OutRsts and EstabResets of the same second, during opening, warm-up, window and after. It was not the keep-alive race (a server closing an idle connection as the client reuses it): undici follows payguard's `Keep-Alive: timeout=5` and closes idle connections itself after 3 s, no connection closed idle before the window ended, and a client keepAliveTimeout of 4 s changed nothing (414 resets). With answers as the gate: no overflow, no reset, no connection closed.",
    `Requests slower than 30 s count as timeouts; non-2xx, errors and timeouts — counted from the first connection to the last answer, by phase (opening, warm-up, window, ending) — must all be 0, and so must the connections closed while a run was going on (by either side; the driver re-opens one with its next request). payguard: memory store, \`${bulkheadLine(params)}\` — its default bulkhead (256 running + 512 queued) answers 503 past 768 requests in flight (seen in a smoke run at 5,000 connections: every answer a 503).`,
    "RSS of the target process: VmRSS before the run (no connections open), peak = VmHWM during the run (connections opened, warm-up and window).",
  ];
}

export function renderConnectionsSection(input: Input): Section {
  const { points, params } = input;
  const failures = [...input.failures];
  for (const p of points) {
    const bad = runFailures(p.point);
    if (bad) failures.push(`${p.target} at ${p.connections} connections: ${bad}`);
    if (p.connected < p.connections) failures.push(`${p.target} at ${p.connections} connections: only ${p.connected} were open when measured`);
    const drops = DROP_PHASES.reduce((n, phase) => n + p.dropsBy[phase], 0);
    if (drops) failures.push(`${p.target} at ${p.connections} connections: ${drops} connection(s) closed while the run was going on`);
  }
  const targets = [...new Set(points.map((p) => p.target))];
  const series = (pick: (p: ConnectionsPoint) => number) =>
    targets.map((name) => ({
      name,
      values: params.connections.map((c) => points.find((p) => p.target === name && p.connections === c)).map((p) => (p ? pick(p) : Number.NaN)),
    }));
  const errors = points.reduce((n, p) => n + p.point.non2xx + p.point.errors, 0);
  const body = [
    ...notes(params).map((n) => `- ${n}`),
    "",
    "### GET pass-through by concurrent connections",
    "",
    connectionsTable(points),
    points.some((p) => !p.point.rssReset) ? "\n† peak since the process started (VmHWM could not be reset)" : "",
    "",
    `Errors (non-2xx + connection errors + timeouts, all points): ${errors} — goal 0: ${points.length ? (errors === 0 ? "met" : "**not met**") : "not measured"}.`,
  ].join("\n");
  return {
    curve: "connections",
    title: "Concurrent connections",
    body,
    png: "curve-connections.png",
    failures,
    ms: input.ms,
    chart: {
      title: "GET pass-through vs concurrent keep-alive connections",
      xLabel: "concurrent connections",
      categories: params.connections.map(String),
      panels: [
        { title: "throughput", yLabel: "req/s", series: series((p) => p.point.rps) },
        { title: "p99 latency", yLabel: "ms", log: true, series: series((p) => p.point.p99) },
        { title: "peak RSS", yLabel: "MiB", series: series((p) => p.point.peakRssMiB) },
      ],
    },
  };
}
