/**
 * Curve 2: new-key POSTs with growing JSON bodies on the default store (SQLite), then the
 * stall test on the same payguard (its small GETs also sent straight to the gateway,
 * `upstreamUrl`, and, with the bodies, through the bare Node proxy for reference).
 * payguard's body limit is raised above the largest body (limits.maxBodySize; the answers
 * stay small, so idempotency.maxResponseSize need not change).
 */
import { startFloor, startPayguard } from "../targets.js";
import type { Params } from "./args.js";
import { type BodyPoint, renderBodySection } from "./body-size-report.js";
import { bytesLabel } from "./format.js";
import { point, warmProcess } from "./measure.js";
import { reason, type Section } from "./section.js";
import { freshCharge } from "./shots.js";
import { STALL_BYTES, type StallRound, stallRounds } from "./stall.js";

export async function bodySizeCurve(params: Params, upstreamUrl: string): Promise<Section> {
  const started = performance.now();
  const limit = 2 * Math.max(STALL_BYTES, ...params.bodies);
  const proc = await startPayguard({ name: "payguard (SQLite)", upstreamUrl, store: "type: sqlite", config: [`limits: { maxBodySize: ${limit} }`] });
  // A 1 MiB body takes payguard tens of ms: on a loaded machine a queued one passes autocannon's default 10 s.
  const options = { connections: params.bodyConnections, timeoutSeconds: 30 };
  const points: BodyPoint[] = [];
  const failures: string[] = [];
  let stall: StallRound[] = [];
  try {
    // The process's first seconds (JIT) would otherwise land on the smallest body.
    await warmProcess(proc, freshCharge(1024), params.bodyConnections, params.warmup);
    for (const bytes of params.bodies) {
      try {
        const p = await point(proc, freshCharge(bytes), { ...options, seconds: params.seconds, rounds: params.rounds, warmup: params.warmup });
        points.push({ bytes, point: p });
        console.log(
          `body ${bytesLabel(bytes)}: ${p.rps.toFixed(1)} req/s, p50 ${p.p50.toFixed(2)} p99 ${p.p99.toFixed(2)} ms, CPU ${p.cpuMsPerReq.toFixed(2)} ms/req`,
        );
      } catch (err) {
        failures.push(`body ${bytesLabel(bytes)}: ${reason(err)}`);
        console.error(failures.at(-1));
      }
    }
    const floor = await startFloor(upstreamUrl);
    stall = await stallRounds(proc, floor, upstreamUrl, params)
      .catch((err: unknown) => {
        failures.push(`stall test: ${reason(err)}`);
        console.error(failures.at(-1));
        return [];
      })
      .finally(() => floor.stop());
  } finally {
    await proc.stop();
  }
  return renderBodySection({ points, stall, params, failures, limit, ms: performance.now() - started });
}
