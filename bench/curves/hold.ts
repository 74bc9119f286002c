/**
 * A driver for many concurrent keep-alive connections: one undici Client and one request loop
 * per connection (hold-loop.ts), so every connection is really in use — an undici Pool hands
 * each request to its first free connection, and its last ones can sit idle.
 *
 * Opening: in batches, each once every connection of the previous one has had an answer —
 * "connected" on the client side is not enough: while the server is busy its accept queue
 * overflows, the kernel drops the oldest connections it has not accepted yet, and the
 * client's request on such a connection gets a RST (ECONNRESET). Not autocannon either: it
 * opens all its connections at once at the start of each run (5,000 SYNs overflow the listen
 * backlog; its first seconds are connection set-up, not load). While the rest are opening,
 * each open connection sends a request every 1.5–2 s: a server closes a keep-alive connection
 * idle for its keepAliveTimeout (Node's default, payguard's: 5 s).
 * Then every loop sends its next request as soon as its answer is in: a warm-up, then the
 * measured window — the responses that completed inside it give the rate and latencies.
 */
import type { Client } from "undici";
import { percentile } from "../load.js";
import type { Run, Shot } from "./cannon.js";
import { connectionLoop, Loops } from "./hold-loop.js";
import { type ByPhase, Tally } from "./tally.js";

export interface HoldOptions {
  connections: number;
  seconds: number;
  warmupSeconds: number;
  /** a request slower than this is a timeout */
  timeoutMs: number;
}

export interface Held extends Run {
  /** connections open, and answered on, when the measured window began */
  connected: number;
  /** ms it took to open them all */
  rampMs: number;
  /** `errors`, by the phase they happened in */
  errorsBy: ByPhase;
  /** connections that closed before the run ended, by phase (each is re-opened by its next request) */
  dropsBy: ByPhase;
}

export const BATCH = 250;
/** a batch that is not all answered by then is given up on (the run reports fewer connections) */
const BATCH_WAIT_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens `n` connections in batches (`open` starts one), each batch once the previous one is held. */
async function ramp(n: number, open: () => void, held: () => number): Promise<void> {
  for (let started = 0; started < n; ) {
    const batch = Math.min(BATCH, n - started);
    for (let i = 0; i < batch; i++) open();
    started += batch;
    const deadline = performance.now() + BATCH_WAIT_MS;
    while (held() < started && performance.now() < deadline) await sleep(20);
  }
}

function summary(tally: Tally, options: HoldOptions, connected: number, rampMs: number): Held {
  const sorted = Float64Array.from(tally.latencies).sort();
  const { requests, non2xx, errors, timeouts, errorsBy, dropsBy, first } = tally;
  return {
    rps: sorted.length / options.seconds,
    requests,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    non2xx,
    errors,
    timeouts,
    ...(first ? { first } : {}),
    connected,
    rampMs,
    errorsBy,
    dropsBy,
  };
}

export async function hold(url: string, shot: Shot, options: HoldOptions): Promise<Held> {
  const tally = new Tally();
  const loops = new Loops();
  const running: Promise<Client>[] = [];
  const t0 = performance.now();
  await ramp(
    options.connections,
    () => running.push(connectionLoop({ url, shot, timeoutMs: options.timeoutMs, tally, loops })),
    () => loops.held,
  );
  const rampMs = performance.now() - t0;
  tally.phase = "warm-up";
  loops.load();
  await sleep(options.warmupSeconds * 1000);
  tally.phase = "window";
  const connected = loops.held;
  const start = performance.now();
  tally.window = { start, end: start + options.seconds * 1000 };
  await sleep(options.seconds * 1000);
  tally.phase = "ending";
  loops.running = false;
  const clients = await Promise.all(running);
  await Promise.all(clients.map((c) => c.close()));
  return summary(tally, options, connected, rampMs);
}
