/**
 * The stall test: small GETs at an even rate (open loop), once on a quiet payguard, then while
 * a child process sends payguard 1 MiB JSON bodies with new keys at a fixed, moderate rate
 * (--flood-rate; 0: back to back) — once through payguard and once straight to the gateway,
 * under the same flood. Does one big body's processing hold up everyone else, and how much of
 * the GETs' latency is payguard's rather than the shared machine's and the gateway's?
 * The conditions alternate in every round (the two loaded ones swap order), so drift on a
 * shared machine hits them alike. Then the reference: the same flood and the same GETs
 * through the bare Node proxy (the floor) — what Node itself does under megabyte bodies.
 */
import type { Proc } from "../targets.js";
import type { Params } from "./args.js";
import type { Run } from "./cannon.js";
import { type Flood, startFlood } from "./flood-child.js";
import { idle } from "./measure.js";
import { openLoop, type Paced } from "./open-loop.js";
import { BALANCE } from "./shots.js";

export const STALL_BYTES = 2 ** 20;
/** connections of the paced GETs */
const PACED_CONNECTIONS = 8;
/** the flood runs this long before the GETs start, and after they end */
const LEAD_S = 1;

export interface StallRound {
  quiet: Paced;
  /** GETs through payguard while the bodies arrive */
  loaded: Paced;
  /** the same GETs sent to the gateway itself, while the bodies still go through payguard */
  direct: Paced;
  flood: Run;
  /** the GETs through the floor while the same bodies go through the floor */
  floor: Paced;
  floorFlood: Run;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The small GETs to `url`, paced at the stall rate for one run. */
function pacedGets(url: string, params: Params): Promise<Paced> {
  return openLoop(url, BALANCE, params.stallRate, params.seconds, PACED_CONNECTIONS);
}

/** 1 MiB bodies to `url`, lasting `runs` paced runs and a lead on either side; resolves once the first lead is over. */
async function bodiesTo(url: string, params: Params, runs: number): Promise<Flood> {
  const flood = await startFlood(url, {
    bytes: STALL_BYTES,
    connections: params.floodConnections,
    seconds: runs * params.seconds + 2 * LEAD_S,
    rate: params.floodRate,
  });
  await sleep(LEAD_S * 1000);
  return flood;
}

/** The GETs through `target` while the bodies go through `target` too. */
async function underFlood(target: Proc, params: Params): Promise<{ paced: Paced; flood: Run }> {
  const flood = await bodiesTo(target.url, params, 1);
  const paced = await pacedGets(target.url, params);
  return { paced, flood: await flood.result };
}

/** The two loaded runs under one flood, in the order `directFirst` says. */
async function loadedRuns(proc: Proc, gatewayUrl: string, params: Params, directFirst: boolean): Promise<Pick<StallRound, "loaded" | "direct" | "flood">> {
  const flood = await bodiesTo(proc.url, params, 2);
  const first = await pacedGets(directFirst ? gatewayUrl : proc.url, params);
  const second = await pacedGets(directFirst ? proc.url : gatewayUrl, params);
  const [loaded, direct] = directFirst ? [second, first] : [first, second];
  return { loaded, direct, flood: await flood.result };
}

/** "at 10/s" or "back to back": how the 1 MiB bodies arrive. */
export function floodRateLabel(params: Params): string {
  return params.floodRate > 0 ? `at ${params.floodRate}/s` : "back to back";
}

export async function stallRounds(proc: Proc, floor: Proc, gatewayUrl: string, params: Params): Promise<StallRound[]> {
  const rounds: StallRound[] = [];
  for (let r = 0; r < params.rounds; r++) {
    await idle(proc);
    const quiet = await pacedGets(proc.url, params);
    const loaded = await loadedRuns(proc, gatewayUrl, params, r % 2 === 1);
    await idle(floor);
    const reference = await underFlood(floor, params);
    const round = { quiet, ...loaded, floor: reference.paced, floorFlood: reference.flood };
    rounds.push(round);
    console.log(
      `stall round ${r + 1}/${params.rounds}: GET p99 quiet ${quiet.p99.toFixed(2)} ms; with 1 MiB POSTs ${floodRateLabel(params)} (${round.flood.rps.toFixed(1)}/s): through payguard ${round.loaded.p99.toFixed(2)} ms (max ${round.loaded.max.toFixed(1)}), direct to the gateway ${round.direct.p99.toFixed(2)} ms; all through the Node floor ${round.floor.p99.toFixed(2)} ms`,
    );
  }
  return rounds;
}

export const PACED = { connections: PACED_CONNECTIONS, leadSeconds: LEAD_S };
