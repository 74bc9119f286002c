/** Curve 1's tables, ratio against the goal, and chart. */
import type { Params, StoreKind } from "./args.js";
import { failures as runFailures } from "./cannon.js";
import { countLabel, f, seconds, table, verdict } from "./format.js";
import { type Point, PROCESS_WARMUP } from "./measure.js";
import type { Section } from "./section.js";
import type { Growth } from "./seed/grow.js";

export interface SizePoint {
  store: StoreKind;
  label: string;
  size: number;
  growth: Growth;
  /** payguard's own payguard_store_entries gauge (SQLite: a count of live records, refreshed every 5 s) */
  gauge: number | undefined;
  point: Point;
  /** POST pass-through (no store) on the same process, interleaved with `point`: the machine's drift */
  reference: Point;
  /** live records once the point's load was done */
  after: number;
}

/** req/s at the largest store ÷ at the smallest: at least this */
export const STORE_RATIO_GOAL = 0.9;

interface Input {
  points: SizePoint[];
  params: Params;
  failures: string[];
  skipped: string[];
  ms: number;
}

function throughputTable(points: SizePoint[]): string {
  return table(
    [
      "store",
      "live records",
      "counted before → after the load",
      "payguard_store_entries",
      "seeded",
      "req/s",
      "p50 ms",
      "p99 ms",
      "CPU s / 1k req",
      "failures",
      "req/s per run",
      "pass-through req/s",
      "new-key ÷ pass-through",
    ],
    points.map((p) => [
      p.label,
      countLabel(p.size),
      `${p.growth.after} → ${p.after}`,
      p.gauge === undefined ? "–" : String(p.gauge),
      p.growth.added ? `+${p.growth.added} in ${seconds(p.growth.insertMs)} (+ ${seconds(p.growth.settleMs)} settling)` : "–",
      f(p.point.rps, 0),
      f(p.point.p50, 2),
      f(p.point.p99, 2),
      f(p.point.cpuMsPerReq, 3),
      runFailures(p.point) || "0",
      p.point.rounds.map((r) => r.toFixed(0)).join(", "),
      f(p.reference.rps, 0),
      f(share(p), 3),
    ]),
  );
}

/** new-key req/s ÷ pass-through req/s of the same rounds: what the store leaves of payguard's throughput */
const share = (p: SizePoint) => p.point.rps / p.reference.rps;

interface Ratio {
  label: string;
  low: SizePoint;
  high: SizePoint;
  ratio: number;
  /** the ratio of the shares: the drift of the machine between the two points taken out */
  corrected: number;
}

function ratios(points: SizePoint[]): Ratio[] {
  const labels = [...new Set(points.map((p) => p.label))];
  return labels.flatMap((label) => {
    const mine = points.filter((p) => p.label === label);
    const [low, high] = [mine[0], mine.at(-1)];
    return low && high && mine.length > 1 ? [{ label, low, high, ratio: high.point.rps / low.point.rps, corrected: share(high) / share(low) }] : [];
  });
}

function ratioTable(points: SizePoint[]): string {
  return table(
    ["store", "req/s at smallest", "req/s at largest", "ratio", "drift-corrected ratio", "goal", "result (corrected)", "result (raw)"],
    ratios(points).map((r) => [
      r.label,
      `${f(r.low.point.rps, 0)} (${countLabel(r.low.size)})`,
      `${f(r.high.point.rps, 0)} (${countLabel(r.high.size)})`,
      f(r.ratio, 2),
      f(r.corrected, 2),
      `≥ ${STORE_RATIO_GOAL}`,
      verdict(Number.isFinite(r.corrected) ? r.corrected >= STORE_RATIO_GOAL : undefined),
      verdict(Number.isFinite(r.ratio) ? r.ratio >= STORE_RATIO_GOAL : undefined),
    ]),
  );
}

function notes(input: Input): string[] {
  const p = input.params;
  return [
    `New-key POST /v1/charges (1 KiB JSON, a new Idempotency-Key each), ${p.loadConnections} connections, ${p.rounds} run(s) of ${p.seconds} s per point, after ${p.warmup} s of warm-up before the store is grown to the point's size (and ${PROCESS_WARMUP * p.warmup} s of pass-through POSTs once before the first point, for the JIT); medians of the runs. payguard with \`idempotency.ttl: 24h\`, so every record stays live.`,
    "Seeding: 3 keyed POSTs through payguard, then one completed record and its ledger row cloned at the storage layer under new keys (base64url SHA-256, like payguard's own): SQLite `INSERT … SELECT` over a recursive CTE on a second connection, PostgreSQL `INSERT … SELECT … FROM generate_series` then `VACUUM (ANALYZE)` and `CHECKPOINT`, Redis `DUMP`/`RESTORE` in a Lua script with the template's TTL. The store grows from one point to the next.",
    "Live records are counted in the store (SQL: `COUNT(*) … WHERE expires_at > now`, Redis: `SCAN` over the prefix) after seeding and after the point's load; every request of the load adds a record, so a store grows during its point (the before → after column).",
    "Drift: each round of a point also runs POST /v1/passthrough (the same 1 KiB body, idempotency off: no store) on the same payguard, right after the new-key run. The drift-corrected ratio is (new-key ÷ pass-through at the largest store) ÷ (the same at the smallest): a shared machine that got slower between the points slows both alike.",
    ...input.skipped,
  ];
}

export function renderStoreSection(input: Input): Section {
  const { points } = input;
  const failures = [...input.failures];
  for (const p of points) {
    const bad = runFailures(p.point);
    if (bad) failures.push(`${p.label} at ${countLabel(p.size)} records: ${bad}`);
  }
  const labels = [...new Set(points.map((p) => p.label))];
  const values = (pick: (p: SizePoint) => number) =>
    labels.map((name) => ({
      name,
      values: input.params.sizes.map((size) => points.find((p) => p.label === name && p.size === size)).map((p) => (p ? pick(p) : Number.NaN)),
    }));
  const body = [
    ...notes(input).map((n) => `- ${n}`),
    "",
    "### Throughput by live records",
    "",
    throughputTable(points),
    "",
    "### req/s at the largest store ÷ at the smallest",
    "",
    ratioTable(points),
  ].join("\n");
  return {
    curve: "store",
    title: "Store size",
    body,
    png: "curve-store-size.png",
    failures,
    ms: input.ms,
    chart: {
      title: "New-key POST 1 KiB vs live records in the store",
      xLabel: "live records",
      categories: input.params.sizes.map(countLabel),
      panels: [
        { title: "throughput", yLabel: "req/s", series: values((p) => p.point.rps) },
        { title: "p99 latency", yLabel: "ms", series: values((p) => p.point.p99) },
        { title: "payguard CPU", yLabel: "CPU s / 1,000 req", series: values((p) => p.point.cpuMsPerReq) },
        { title: "new-key ÷ pass-through req/s", yLabel: "share of pass-through throughput", series: values(share) },
      ],
    },
  };
}
