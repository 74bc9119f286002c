/**
 * Load generation: autocannon (closed loop, or its `overallRate`), plus an evenly paced
 * open-loop generator for the fixed-rate latency check, a closed loop that opens a new TLS
 * connection for every request, and medians over rounds. Latencies are recorded per response
 * in ms with sub-ms precision (autocannon's own histogram keeps whole milliseconds only).
 */
import { Agent, request } from "node:http";
import { request as httpsRequest } from "node:https";
import type { TLSSocket } from "node:tls";
import autocannon from "autocannon";
import Stripe from "stripe";

export interface Scenario {
  name: string;
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** "fresh": a new Idempotency-Key on every request; "fixed": one key for the whole run (replays) */
  key?: "fresh" | "fixed";
  /** "new": every request on a new connection (full TLS handshake, no session resumption), HTTPS targets only; unset: keep-alive */
  connection?: "new";
  /** a Stripe webhook event with a new id each, signed with this secret by stripe-node's own helper (the body is made per request) */
  stripeEvent?: { secret: string };
}

/**
 * How the client reaches an HTTPS target as an SDK reaches a gateway: TLS name and Host header
 * `servername` (say api.stripe.com) on the target's own address, trusting `ca` (PEM).
 */
export interface TlsClient {
  servername: string;
  ca: string;
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

const stripe = new Stripe("sk_test_bench");

/** A new Stripe event per call, with its Stripe-Signature header (signed now). */
function eventMaker(secret: string): () => { body: string; signature: string } {
  const prefix = `evt_bench_${process.pid}_${++runs}`;
  let n = 0;
  return () => {
    const id = `${prefix}_${++n}`;
    const body = JSON.stringify({ id, object: "event", type: "payment_intent.succeeded", data: { object: { id: `pi_${id}` } } });
    return { body, signature: stripe.webhooks.generateTestHeaderString({ payload: body, secret }) };
  };
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
  /** for an https URL: the name and CA (checkTls verifies them; autocannon only sends the name) */
  tls?: TlsClient;
}

/** One autocannon run (or, for `connection: "new"`, newConnections); throws on any non-2xx answer or connection error. */
export async function load(url: string, scenario: Scenario, options: LoadOptions): Promise<Sample> {
  if (scenario.connection === "new") {
    if (!options.tls || options.overallRate) throw new Error(`${scenario.name}: a new connection per request is measured on HTTPS targets at full speed only`);
    return newConnections(url, scenario, options.tls, options.seconds, options.connections);
  }
  const nextKey = keyer(scenario);
  const nextEvent = scenario.stripeEvent && eventMaker(scenario.stripeEvent.secret);
  const latencies = new Latencies();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: url + scenario.path,
        method: scenario.method,
        headers: options.tls ? { ...scenario.headers, host: options.tls.servername } : scenario.headers,
        body: scenario.body,
        // autocannon sends this name (SNI) but connects with rejectUnauthorized: false whatever
        // tlsOptions say (lib/httpClient.js): the target's chain and name are verified once
        // before its runs instead (checkTls). The handshakes are the same either way.
        ...(options.tls ? { servername: options.tls.servername, tlsOptions: { ca: options.tls.ca } } : {}),
        connections: options.connections,
        duration: options.seconds,
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
        debug: process.env.BENCH_DEBUG === "1",
        requests: [
          {
            setupRequest: (req) => {
              if (nextEvent) {
                const { body, signature } = nextEvent();
                return { ...req, body, headers: { ...req.headers, "stripe-signature": signature } };
              }
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

/** The request options of node:https for `url` as `tls` reaches it: its name as SNI and Host, only `tls.ca` trusted, no session reuse. */
function httpsOptions(url: URL, tls: TlsClient, scenario: Pick<Scenario, "method" | "headers">) {
  return {
    host: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    method: scenario.method,
    headers: { ...scenario.headers, host: tls.servername },
    servername: tls.servername,
    ca: tls.ca,
    // no Agent: a new connection (and a full handshake) per request, nothing cached between them
    agent: false as const,
  };
}

/**
 * One GET of `path` at an HTTPS target, verified as an SDK verifies a gateway (the chain up to
 * `tls.ca`, the name `tls.servername`); resolves with the negotiated protocol and cipher, rejects
 * on a failed handshake or a non-2xx answer.
 */
export function checkTls(url: string, path: string, tls: TlsClient): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(httpsOptions(new URL(url + path), tls, { method: "GET" }), (res) => {
      const socket = res.socket as TLSSocket;
      const negotiated = `${socket.getProtocol()} ${socket.getCipher().standardName}`;
      res.resume();
      res.on("end", () =>
        res.statusCode && res.statusCode >= 200 && res.statusCode < 300
          ? resolve(negotiated)
          : reject(new Error(`GET ${url}${path} as ${tls.servername}: status ${res.statusCode}`)),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Closed loop of `connections` clients, each sending its next request only on a new TLS
 * connection (`Connection: close`, no session resumption): what a client that never reuses a
 * connection costs. Verified like checkTls; latency includes the connection and the handshake.
 */
async function newConnections(url: string, scenario: Scenario, tls: TlsClient, seconds: number, connections: number): Promise<Sample> {
  const target = new URL(url + scenario.path);
  const nextKey = keyer(scenario);
  const latencies = new Latencies();
  const start = performance.now();
  const end = start + seconds * 1000;
  let done = 0;
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const sentAt = performance.now();
      const key = nextKey();
      const options = httpsOptions(target, tls, scenario);
      const headers: Record<string, string> = { ...options.headers, connection: "close" };
      if (key) headers["idempotency-key"] = key;
      if (scenario.body) headers["content-length"] = String(Buffer.byteLength(scenario.body));
      const req = httpsRequest({ ...options, headers }, (res) => {
        res.resume();
        res.on("end", () => {
          done++;
          if (res.statusCode && res.statusCode >= 200 && res.statusCode < 300) {
            latencies.push(performance.now() - sentAt);
            resolve();
          } else reject(new Error(`${scenario.name} at ${url}: status ${res.statusCode}`));
        });
      });
      req.on("error", reject);
      req.end(scenario.body);
    });
  const client = async () => {
    while (performance.now() < end) await once();
  };
  await Promise.all(Array.from({ length: connections }, client));
  const elapsed = (performance.now() - start) / 1000;
  return { rps: latencies.length / elapsed, requests: done, ...percentiles(latencies.sorted()) };
}
