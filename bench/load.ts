/**
 * Load generation: autocannon (closed loop, or its `overallRate`), plus an evenly paced
 * open-loop generator for the fixed-rate latency check, and medians over rounds.
 * Latencies are recorded per response in ms with sub-ms precision (autocannon's own
 * histogram keeps whole milliseconds only).
 */
import { Agent, request } from "node:http";
import autocannon from "autocannon";

export interface Scenario {
  name: string;
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** "fresh": a new Idempotency-Key on every request; "fixed": one key for the whole run (replays) */
  key?: "fresh" | "fixed";
}

export interface Sample {
  /** 2xx responses per second */
  rps: number;
  /** responses completed (any status) */
  requests: number;
  p50: number;
  p99: number;
  /** 99.9th percentile, ms */
  p999: number;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

function percentiles(sorted: ArrayLike<number>): Pick<Sample, "p50" | "p99" | "p999"> {
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9) };
}

export function median(values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? (finite[mid] as number) : ((finite[mid - 1] as number) + (finite[mid] as number)) / 2;
}

/** Latencies (ms) collected into a growable Float64Array. */
class Latencies {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(ms: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = ms;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

let runs = 0;
function keyer(scenario: Scenario): () => string | undefined {
  const prefix = `bench-${process.pid}-${++runs}`;
  let n = 0;
  if (scenario.key === "fixed") return () => prefix;
  if (scenario.key === "fresh") return () => `${prefix}-${++n}`;
  return () => undefined;
}

export interface LoadOptions {
  seconds: number;
  connections: number;
  /** autocannon `overallRate` (requests/s over all connections); unset: as fast as possible */
  overallRate?: number;
}

/** One autocannon run; throws on any non-2xx answer or connection error. */
export async function load(url: string, scenario: Scenario, options: LoadOptions): Promise<Sample> {
  const nextKey = keyer(scenario);
  const latencies = new Latencies();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: url + scenario.path,
        method: scenario.method,
        headers: scenario.headers,
        body: scenario.body,
        connections: options.connections,
        duration: options.seconds,
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
        debug: process.env.BENCH_DEBUG === "1",
        requests: [
          {
            setupRequest: (req) => {
              const key = nextKey();
              return key ? { ...req, headers: { ...req.headers, "idempotency-key": key } } : req;
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on("response", (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${scenario.name} at ${url}: ${result.non2xx} non-2xx, ${result.errors} errors (BENCH_DEBUG=1 prints them)`);
  const sorted = latencies.sorted();
  return { rps: result["2xx"] / result.duration, requests: result.requests.total, ...percentiles(sorted) };
}

/**
 * Open loop at an even `rate`: request i is sent at start + i/rate (timer resolution ~1 ms),
 * whatever the answers do, over a pool of `connections` keep-alive connections. Latency is
 * measured from the moment the request is issued (time waiting for a free connection counts,
 * the generator's own timer lateness does not), so a stalled target cannot hide its queueing.
 */
export async function paced(url: string, scenario: Scenario, rate: number, seconds: number, connections: number): Promise<Sample> {
  const target = new URL(url + scenario.path);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const nextKey = keyer(scenario);
  const latencies = new Latencies();
  const total = Math.round(rate * seconds);
  const start = performance.now();
  let sent = 0;
  let done = 0;
  let failure: Error | undefined;
  await new Promise<void>((resolve) => {
    const finish = () => {
      if (++done === total) resolve();
    };
    const send = () => {
      const sentAt = performance.now();
      const key = nextKey();
      const headers: Record<string, string> = { ...scenario.headers };
      if (key) headers["idempotency-key"] = key;
      if (scenario.body) headers["content-length"] = String(Buffer.byteLength(scenario.body));
      const req = request(target, { method: scenario.method, headers, agent }, (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - sentAt);
          else failure ??= new Error(`${scenario.name} at ${url}: status ${res.statusCode}`);
          finish();
        });
      });
      req.on("error", (err) => {
        failure ??= err;
        finish();
      });
      req.end(scenario.body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / rate <= now) {
        sent++;
        send();
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()));
    };
    tick();
  });
  agent.destroy();
  if (failure) throw failure;
  const elapsed = (performance.now() - start) / 1000;
  const sorted = latencies.sorted();
  return { rps: latencies.length / elapsed, requests: done, ...percentiles(sorted) };
}
