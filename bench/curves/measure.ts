/**
 * A run with the target process's cost around it — CPU seconds (utime + stime) per request,
 * its RSS before the run and its peak RSS (VmHWM, reset first) — and the runs of one point
 * combined: medians of the rates and latencies, the worst max, every failure summed.
 */
import { median } from "../load.js";
import { cpuSeconds, type Proc, peakRssMiB, resetPeakRss, rssMiB } from "../targets.js";
import { type FireOptions, fire, type Run, type Shot } from "./cannon.js";

export interface Measured extends Run {
  /** CPU ms of the target per response (= CPU s per 1,000 responses) */
  cpuMsPerReq: number;
  idleRssMiB: number;
  peakRssMiB: number;
  /** VmHWM was reset before the run, so peakRssMiB is the run's (else: since the process started) */
  rssReset: boolean;
}

/** CPU share (of one core) under which a target counts as idle */
const IDLE_SHARE = 0.1;

/**
 * Waits until the target's CPU use falls to idle, at most `maxMs`: requests of the previous
 * run may still be in its queues (a client that hung up leaves a body being parsed), and
 * must not land in the next. Returns the ms waited.
 */
export async function idle(target: Proc, maxMs = 15_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const cpu0 = cpuSeconds(target.workerPid);
    await new Promise((resolve) => setTimeout(resolve, 250));
    if ((cpuSeconds(target.workerPid) - cpu0) / 0.25 < IDLE_SHARE) return performance.now() - t0;
    if (performance.now() - t0 > maxMs) {
      console.warn(`${target.name} still busy after ${maxMs} ms; measuring anyway`);
      return performance.now() - t0;
    }
  }
}

/** One run of `drive` (any load generator) with the target's CPU and RSS around it. */
export async function measureWith<R extends Run>(target: Proc, drive: () => Promise<R>): Promise<R & Measured> {
  const pid = target.workerPid;
  await idle(target);
  const idleRssMiB = rssMiB(pid);
  const rssReset = resetPeakRss(pid);
  const cpu0 = cpuSeconds(pid);
  const run = await drive();
  const cpu = cpuSeconds(pid) - cpu0;
  return { ...run, cpuMsPerReq: (cpu / run.requests) * 1000, idleRssMiB, peakRssMiB: peakRssMiB(pid), rssReset };
}

export function measure(target: Proc, shot: Shot, options: FireOptions): Promise<Measured> {
  return measureWith(target, () => fire(target.url, shot, options));
}

export interface Point extends Measured {
  /** req/s of each run */
  rounds: number[];
}

export function combine(runs: Measured[]): Point {
  const mid = (pick: (m: Measured) => number) => median(runs.map(pick));
  const worst = (pick: (m: Measured) => number) => Math.max(...runs.map(pick));
  const sum = (pick: (m: Measured) => number) => runs.reduce((total, m) => total + pick(m), 0);
  const first = runs.find((m) => m.first)?.first;
  return {
    rps: mid((m) => m.rps),
    requests: sum((m) => m.requests),
    p50: mid((m) => m.p50),
    p99: mid((m) => m.p99),
    max: worst((m) => m.max),
    non2xx: sum((m) => m.non2xx),
    errors: sum((m) => m.errors),
    timeouts: sum((m) => m.timeouts),
    ...(first ? { first } : {}),
    cpuMsPerReq: mid((m) => m.cpuMsPerReq),
    idleRssMiB: mid((m) => m.idleRssMiB),
    peakRssMiB: worst((m) => m.peakRssMiB),
    rssReset: runs.every((m) => m.rssReset),
    rounds: runs.map((m) => m.rps),
  };
}

/** A fresh process's first seconds (JIT) are slower: a target gets this many × --warmup once, before its first point. */
export const PROCESS_WARMUP = 5;

/** The unmeasured load a fresh target gets before its first point. */
export async function warmProcess(target: Proc, shot: Shot, connections: number, warmup: number): Promise<void> {
  if (warmup > 0) await fire(target.url, shot, { connections, seconds: PROCESS_WARMUP * warmup });
}

type PointOptions = FireOptions & { rounds: number; warmup: number };

/**
 * One point for each shot: each warmed up for `warmup` seconds, then `rounds` rounds that
 * measure every shot in turn — interleaved, so drift on a shared machine hits them alike.
 */
export async function points(target: Proc, shots: Shot[], options: PointOptions): Promise<Point[]> {
  if (options.warmup > 0) for (const shot of shots) await fire(target.url, shot, { ...options, seconds: options.warmup });
  const runs = shots.map((): Measured[] => []);
  for (let i = 0; i < options.rounds; i++) for (const [j, shot] of shots.entries()) runs[j]?.push(await measure(target, shot, options));
  return runs.map(combine);
}

/** `rounds` measured runs of one shot, after an unmeasured warm-up of `warmup` seconds. */
export async function point(target: Proc, shot: Shot, options: PointOptions): Promise<Point> {
  const [only] = await points(target, [shot], options);
  return only as Point;
}
