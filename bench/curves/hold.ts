/**
 * A driver for many concurrent keep-alive connections: one undici Pool, one request loop per
 * connection (each sends its next request when its answer is in). The connections are
 * opened in batches first and all of them must be connected before anything is measured
 * (autocannon opens all its connections at once at the start of each run: 5,000 SYNs
 * overflow the listen backlog, and its first seconds are connection set-up, not load).
 * Then a warm-up, then the measured window: responses that completed inside it give the
 * rate and latencies; errors and timeouts are counted over the whole run.
 */
import { Pool } from "undici";
import { percentile } from "../load.js";
import type { Run, Shot } from "./cannon.js";

export interface HoldOptions {
  connections: number;
  seconds: number;
  warmupSeconds: number;
  /** a request slower than this is a timeout */
  timeoutMs: number;
}

export interface Held extends Run {
  /** connections open when the measured window began */
  connected: number;
  /** ms it took to open them all */
  rampMs: number;
  /** of `errors`, those that happened inside the measured window */
  errorsInWindow: number;
}

const BATCH = 250;
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class Tally {
  latencies: number[] = [];
  requests = 0;
  non2xx = 0;
  errors = 0;
  timeouts = 0;
  errorsInWindow = 0;
  first: string | undefined;
  window = { start: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY };

  answered(status: number, sentAt: number, now: number): void {
    this.requests++;
    const inWindow = sentAt >= this.window.start && now <= this.window.end;
    if (status >= 200 && status < 300) {
      if (inWindow) this.latencies.push(now - sentAt);
    } else {
      this.non2xx++;
      this.first ??= `status ${status}`;
    }
  }

  failed(err: unknown): void {
    this.errors++;
    const now = performance.now();
    if (now >= this.window.start && now <= this.window.end) this.errorsInWindow++;
    const code = (err as { code?: string }).code ?? "";
    if (TIMEOUT_CODES.has(code)) this.timeouts++;
    this.first ??= `${code} ${(err as Error).message}`.trim();
  }
}

async function connectionLoop(pool: Pool, shot: Shot, tally: Tally, running: () => boolean): Promise<void> {
  while (running()) {
    const sentAt = performance.now();
    try {
      const res = await pool.request({ method: shot.method, path: shot.path, headers: shot.headers ?? {}, body: shot.body ?? null });
      await res.body.dump();
      tally.answered(res.statusCode, sentAt, performance.now());
    } catch (err) {
      tally.failed(err);
    }
  }
}

/** Starts the loops in batches, each batch once the previous one is connected; resolves with the connections open. */
async function ramp(pool: Pool, n: number, start: () => Promise<void>, loops: Promise<void>[]): Promise<number> {
  for (let started = 0; started < n; ) {
    const batch = Math.min(BATCH, n - started);
    for (let i = 0; i < batch; i++) loops.push(start());
    started += batch;
    const deadline = performance.now() + 10_000;
    while (pool.stats.connected < started && performance.now() < deadline) await sleep(20);
  }
  return pool.stats.connected;
}

export async function hold(url: string, shot: Shot, options: HoldOptions): Promise<Held> {
  const timeouts = { headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs, connectTimeout: options.timeoutMs };
  const pool = new Pool(url, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, ...timeouts });
  const tally = new Tally();
  let going = true;
  const loops: Promise<void>[] = [];
  const t0 = performance.now();
  const connected = await ramp(pool, options.connections, () => connectionLoop(pool, shot, tally, () => going), loops);
  const rampMs = performance.now() - t0;
  await sleep(options.warmupSeconds * 1000);
  tally.window.start = performance.now();
  tally.window.end = tally.window.start + options.seconds * 1000;
  await sleep(options.seconds * 1000);
  going = false;
  await Promise.all(loops);
  await pool.close();
  const sorted = Float64Array.from(tally.latencies).sort();
  const { requests, non2xx, errors, timeouts: timedOut, errorsInWindow, first } = tally;
  return {
    rps: sorted.length / options.seconds,
    requests,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    non2xx,
    errors,
    timeouts: timedOut,
    ...(first ? { first } : {}),
    connected,
    rampMs,
    errorsInWindow,
  };
}
