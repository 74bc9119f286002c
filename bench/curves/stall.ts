/**
 * The stall test: small GETs at an even rate (open loop), once on a quiet payguard and once
 * while a few connections (a child process) send it 1 MiB JSON bodies with new keys
 * back to back — does one big body's parse and canonicalisation hold up everyone else?
 * Quiet and loaded alternate for each round, so drift on a shared machine hits both alike.
 */
import type { Proc } from "../targets.js";
import type { Params } from "./args.js";
import type { Run } from "./cannon.js";
import { startFlood } from "./flood-child.js";
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
  loaded: Paced;
  flood: Run;
}

export async function stallRounds(proc: Proc, params: Params): Promise<StallRound[]> {
  const rounds: StallRound[] = [];
  for (let r = 0; r < params.rounds; r++) {
    await idle(proc);
    const quiet = await openLoop(proc.url, BALANCE, params.stallRate, params.seconds, PACED_CONNECTIONS);
    const flood = await startFlood(proc.url, STALL_BYTES, params.floodConnections, params.seconds + 2 * LEAD_S);
    await new Promise((resolve) => setTimeout(resolve, LEAD_S * 1000));
    const loaded = await openLoop(proc.url, BALANCE, params.stallRate, params.seconds, PACED_CONNECTIONS);
    rounds.push({ quiet, loaded, flood: await flood.result });
    console.log(
      `stall round ${r + 1}/${params.rounds}: GET p99 quiet ${quiet.p99.toFixed(2)} ms, with 1 MiB bodies ${loaded.p99.toFixed(2)} ms (max ${loaded.max.toFixed(1)} ms)`,
    );
  }
  return rounds;
}

export const PACED = { connections: PACED_CONNECTIONS, leadSeconds: LEAD_S };
