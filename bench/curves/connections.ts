/**
 * Curve 3: GET pass-through over many concurrent keep-alive connections, payguard (memory
 * store) against the Node floor (bench/floor.ts), driven by hold.ts. payguard's bulkhead is
 * raised above the largest connection count: its default (256 running + 512 queued) answers
 * 503 past 768 requests in flight, which is policy, not the cost of holding connections.
 */
import { type Proc, startFloor, startPayguard } from "../targets.js";
import type { Params } from "./args.js";
import { bulkheadLine, type ConnectionsPoint, renderConnectionsSection } from "./connections-report.js";
import { type Held, hold } from "./hold.js";
import { combine, type Measured, measureWith, warmProcess } from "./measure.js";
import { reason, type Section } from "./section.js";
import { BALANCE } from "./shots.js";
import { DROP_PHASES, PHASES, phaseCells, sumByPhase } from "./tally.js";

const TIMEOUT_MS = 30_000;

async function measurePoint(target: Proc, connections: number, params: Params): Promise<Held & Measured> {
  const options = { connections, seconds: params.seconds, warmupSeconds: params.warmup, timeoutMs: TIMEOUT_MS };
  return measureWith(target, () => hold(target.url, BALANCE, options));
}

function pointOf(target: Proc, connections: number, runs: (Held & Measured)[]): ConnectionsPoint {
  return {
    target: target.name,
    connections,
    point: combine(runs),
    connected: Math.min(...runs.map((r) => r.connected)),
    rampMs: Math.max(...runs.map((r) => r.rampMs)),
    errorsBy: sumByPhase(runs.map((r) => r.errorsBy)),
    dropsBy: sumByPhase(runs.map((r) => r.dropsBy)),
  };
}

async function runPoints(targets: Proc[], params: Params, points: ConnectionsPoint[]): Promise<void> {
  for (const connections of params.connections) {
    const runs = new Map<Proc, (Held & Measured)[]>(targets.map((t) => [t, []]));
    // Interleaved, the order flipped each round, so drift on a shared machine hits both alike.
    for (let round = 0; round < params.rounds; round++) {
      for (const target of round % 2 ? [...targets].reverse() : targets) {
        const run = await measurePoint(target, connections, params);
        runs.get(target)?.push(run);
        console.log(
          `${connections} connections, ${target.name}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99.toFixed(1)} ms, errors ${run.errors} (${PHASES.join("/")}: ${phaseCells(run.errorsBy)}), closed while running ${phaseCells(run.dropsBy, DROP_PHASES)}, non-2xx ${run.non2xx}, opened in ${(run.rampMs / 1000).toFixed(1)} s, peak RSS ${run.peakRssMiB.toFixed(0)} MiB`,
        );
      }
    }
    for (const target of targets) points.push(pointOf(target, connections, runs.get(target) ?? []));
  }
}

export async function connectionsCurve(params: Params, upstreamUrl: string): Promise<Section> {
  const started = performance.now();
  const payguard = await startPayguard({ name: "payguard", upstreamUrl, config: [bulkheadLine(params)] });
  const floor = await startFloor(upstreamUrl);
  const points: ConnectionsPoint[] = [];
  const failures: string[] = [];
  try {
    for (const target of [payguard, floor]) await warmProcess(target, BALANCE, 32, params.warmup);
    await runPoints([payguard, floor], params, points).catch((err: unknown) => {
      failures.push(reason(err));
      console.error(`connections curve: ${reason(err)}`);
    });
  } finally {
    await Promise.all([payguard.stop(), floor.stop()]);
  }
  return renderConnectionsSection({ points, params, failures, ms: performance.now() - started });
}
