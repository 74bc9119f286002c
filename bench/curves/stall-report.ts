/** The stall test's tables (GET latency quiet, loaded through payguard, loaded direct, all through the Node floor) and its goal, for curve 2. */
import { median } from "../load.js";
import type { Params } from "./args.js";
import { type Run, failures as runFailures } from "./cannon.js";
import { bytesLabel, f, table, verdict } from "./format.js";
import type { Paced } from "./open-loop.js";
import { floodRateLabel, PACED, STALL_BYTES, type StallRound } from "./stall.js";

/** p99 of the small GETs through payguard while 1 MiB bodies arrive: below this, in ms */
export const STALL_P99_GOAL_MS = 10;

const MIB = bytesLabel(STALL_BYTES);

interface StallRow {
  condition: string;
  runs: Paced[];
  flood?: string;
}

function stallRow({ condition, runs, flood }: StallRow): string[] {
  const failed = runs.reduce((n, r) => n + r.failed, 0);
  return [
    condition,
    `${runs.reduce((n, r) => n + r.ok, 0)}/${runs.reduce((n, r) => n + r.sent, 0)}`,
    f(median(runs.map((r) => r.p50)), 2),
    f(median(runs.map((r) => r.p99)), 2),
    f(Math.max(...runs.map((r) => r.max)), 1),
    flood ?? "–",
    failed ? `${failed} (first: ${runs.find((r) => r.first)?.first})` : "0",
  ];
}

function floodCell(floods: Run[], params: Params, through: string): string {
  const floodFailures = floods.map((run) => runFailures(run)).filter(Boolean);
  const rps = f(median(floods.map((run) => run.rps)), 1);
  return `${rps}/s answered through ${through} over ${params.floodConnections} connections${floodFailures.length ? ` (${floodFailures.join("; ")})` : ""}`;
}

export function stallTable(stall: StallRound[], params: Params): string {
  const flood = floodCell(
    stall.map((r) => r.flood),
    params,
    "payguard",
  );
  const rows = [
    stallRow({ condition: "quiet (through payguard)", runs: stall.map((r) => r.quiet) }),
    stallRow({ condition: `with ${MIB} POSTs ${floodRateLabel(params)} (through payguard)`, runs: stall.map((r) => r.loaded), flood }),
    stallRow({ condition: "same, GETs direct to the gateway", runs: stall.map((r) => r.direct), flood }),
    stallRow({
      condition: "reference: POSTs and GETs through the bare Node proxy",
      runs: stall.map((r) => r.floor),
      flood: floodCell(
        stall.map((r) => r.floorFlood),
        params,
        "the floor",
      ),
    }),
  ];
  return table(["condition", "GETs answered", "p50 ms", "p99 ms", "max ms", `${MIB} new-key POSTs alongside`, "GET failures"], rows);
}

export function goalTable(stall: StallRound[], params: Params): string {
  const p99 = median(stall.map((r) => r.loaded.p99));
  const added = p99 - median(stall.map((r) => r.direct.p99));
  return table(
    ["target", "measured", "goal", "result"],
    [
      [
        `GET p99 through payguard while ${MIB} bodies arrive ${floodRateLabel(params)}`,
        `${f(p99, 2)} ms`,
        `< ${STALL_P99_GOAL_MS} ms`,
        verdict(Number.isFinite(p99) ? p99 < STALL_P99_GOAL_MS : undefined),
      ],
      ["added by payguard (loaded p99 through payguard − loaded p99 direct)", `${f(added, 2)} ms`, "–", "–"],
      ["the bare Node proxy under the same load (its GET p99)", `${f(median(stall.map((r) => r.floor.p99)), 2)} ms`, "–", "–"],
    ],
  );
}

export function stallNote(params: Params): string {
  const p = params;
  const rate =
    p.floodRate > 0
      ? `${p.floodRate} per second in total (${f((p.floodRate * STALL_BYTES) / 2 ** 20, 1)} MiB/s; autocannon's \`overallRate\`, which gives each connection a budget per second that it spends back to back, so the bodies arrive in a burst at the start of each second rather than evenly spaced)`
      : "back to back (`--flood-rate 0`: as fast as payguard takes them, which saturates a small machine — the GETs then measure the machine, not a stall)";
  return [
    `Stall test: GET /v1/balance (passed through) at ${p.stallRate} req/s, evenly paced over ${PACED.connections} connections, latency from the moment each is due.`,
    `Each of ${p.rounds} round(s): ${p.seconds} s quiet; then a child process sends payguard ${MIB} new-key POSTs over ${p.floodConnections} connections, ${rate}, and after ${PACED.leadSeconds} s the same GETs run ${p.seconds} s through payguard and ${p.seconds} s straight to the gateway (the order swapped every round) while the bodies keep going through payguard.`,
    `Last in each round, the reference: the same bodies and the same GETs (after ${PACED.leadSeconds} s) through the bare Node proxy (bench/floor.ts) — what Node's HTTP stack alone does with megabyte bodies on this machine.`,
    "The direct row is what the shared machine and the gateway cost the GETs under that load; payguard's share is the difference. Medians of the rounds, max of all.",
  ].join(" ");
}
