/**
 * Small requests at an even rate, whatever the answers do (an open loop): request i is sent
 * at start + i / rate over a pool of keep-alive connections, and its latency runs from that
 * moment (time spent waiting for a free connection counts), so a stalled target cannot hide
 * its queueing. Failures are counted, not thrown.
 */
import { Pool } from "undici";
import { percentile } from "../load.js";
import type { Shot } from "./cannon.js";

export interface Paced {
  sent: number;
  ok: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  /** the first failure, to tell what went wrong */
  first?: string;
}

export async function openLoop(url: string, shot: Shot, rate: number, seconds: number, connections: number): Promise<Paced> {
  const pool = new Pool(url, { connections, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  const total = Math.round(rate * seconds);
  let failed = 0;
  let first: string | undefined;
  const one = async () => {
    const sentAt = performance.now();
    try {
      const res = await pool.request({ method: shot.method, path: shot.path, headers: shot.headers ?? {}, body: shot.body ?? null });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - sentAt);
      else throw new Error(`status ${res.statusCode}`);
    } catch (err) {
      failed++;
      first ??= (err as Error).message;
    }
  };
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(one());
  }
  await Promise.all(inFlight);
  await pool.close();
  const sorted = Float64Array.from(latencies).sort();
  const max = sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN;
  return { sent: total, ok: latencies.length, failed, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max, ...(first ? { first } : {}) };
}
