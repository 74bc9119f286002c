/** Curve 2's tables (throughput by body size, the stall test against its goal) and chart. */
import type { Params } from "./args.js";
import { failures as runFailures } from "./cannon.js";
import { bytesLabel, f, table } from "./format.js";
import { type Point, PROCESS_WARMUP } from "./measure.js";
import type { Section } from "./section.js";
import type { StallRound } from "./stall.js";
import { goalTable, stallNote, stallTable } from "./stall-report.js";

export interface BodyPoint {
  bytes: number;
  point: Point;
}

interface Input {
  points: BodyPoint[];
  stall: StallRound[];
  params: Params;
  failures: string[];
  limit: number;
  ms: number;
}

function throughputTable(points: BodyPoint[]): string {
  return table(
    ["body", "bytes", "req/s", "MiB/s of bodies", "p50 ms", "p99 ms", "CPU ms / req", "peak RSS MiB", "failures", "req/s per run"],
    points.map(({ bytes, point: p }) => [
      bytesLabel(bytes),
      String(bytes),
      f(p.rps, 1),
      f((p.rps * bytes) / 2 ** 20, 1),
      f(p.p50, 2),
      f(p.p99, 2),
      f(p.cpuMsPerReq, 3),
      `${f(p.peakRssMiB, 0)}${p.rssReset ? "" : "†"}`,
      runFailures(p) || "0",
      p.rounds.map((r) => r.toFixed(1)).join(", "),
    ]),
  );
}

function notes(input: Input): string[] {
  const p = input.params;
  return [
    `New-key POST /v1/charges with a JSON body of each size (an order with line items: nested objects, numbers, strings, keys not in sorted order — payguard canonicalises a JSON body for the fingerprint, up to \`idempotency.fingerprint.canonicalMaxBytes\` — left at its default, 64 KiB when this was written; a bigger body is hashed as bytes), ${p.bodyConnections} connections, ${p.rounds} run(s) of ${p.seconds} s per size after ${p.warmup} s of warm-up (and ${PROCESS_WARMUP * p.warmup} s of 1 KiB bodies once before the first size, for the JIT); medians. payguard on SQLite with \`limits: { maxBodySize: ${input.limit} }\`.`,
    stallNote(p),
  ];
}

export function renderBodySection(input: Input): Section {
  const { points, stall } = input;
  const failures = [...input.failures];
  for (const { bytes, point } of points) if (runFailures(point)) failures.push(`body ${bytesLabel(bytes)}: ${runFailures(point)}`);
  for (const r of stall)
    if (r.quiet.failed || r.loaded.failed || r.direct.failed || r.floor.failed || runFailures(r.flood) || runFailures(r.floorFlood))
      failures.push("stall test: failed requests (see its table)");
  const series = (name: string, pick: (p: BodyPoint) => number) => [
    { name, values: input.params.bodies.map((b) => points.find((p) => p.bytes === b)).map((p) => (p ? pick(p) : Number.NaN)) },
  ];
  const body = [
    ...notes(input).map((n) => `- ${n}`),
    "",
    "### Throughput by body size",
    "",
    throughputTable(points),
    points.some((p) => !p.point.rssReset) ? "\n† peak since the process started (VmHWM could not be reset)" : "",
    "",
    "### Stall test",
    "",
    stall.length ? stallTable(stall, input.params) : "not measured",
    "",
    goalTable(stall, input.params),
  ].join("\n");
  return {
    curve: "body",
    title: "Body size",
    body,
    png: "curve-body-size.png",
    failures: [...new Set(failures)],
    ms: input.ms,
    chart: {
      title: "New-key POST vs JSON body size (SQLite store)",
      xLabel: "request body",
      categories: input.params.bodies.map(bytesLabel),
      panels: [
        { title: "throughput", yLabel: "req/s", log: true, series: series("payguard", (p) => p.point.rps) },
        { title: "p99 latency", yLabel: "ms", log: true, series: series("payguard", (p) => p.point.p99) },
        { title: "payguard CPU", yLabel: "CPU ms / req", log: true, series: series("payguard", (p) => p.point.cpuMsPerReq) },
      ],
    },
  };
}
