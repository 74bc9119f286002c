/**
 * A simulated payment gateway that misbehaves the way real ones do, for the demo and the
 * chaos suite. It keeps a ledger of every charge, so a run can be audited afterwards:
 * which payment was charged how often, and whether the client could have learned of it.
 *
 *   POST /v1/payment_intents   {"payment":"pay_1","amount":1999,"currency":"eur"}
 *
 * Faults are drawn per arrival from a hash of (seed, tenant, payment, n-th arrival of that
 * payment), not from a shared random stream: with the same seed, the n-th arrival of a
 * payment meets the same fault however the requests interleave. How many arrivals a payment
 * makes depends on timing (a client that times out retries), so the fault totals of two
 * runs may differ; the schedule (`schedule()`) agrees wherever both runs have an arrival.
 *
 * With `dedupe: false` (the default) the gateway ignores Idempotency-Key, like an
 * acquirer API without idempotency support: every request that reaches the charge step
 * charges. With `dedupe: true` it behaves like Stripe: a completed key replays its answer,
 * a key in flight gets 409.
 */
import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export const FAULTS = ["late", "resetAfterCharge", "resetBeforeCharge", "unavailable", "rateLimited"] as const;
export type Fault = (typeof FAULTS)[number];

/** Probability per arrival of each fault; the rest are answered normally. Sum ≤ 1. */
export type FaultRates = Record<Fault, number>;

export interface GatewaySimOptions {
  seed: number;
  faults: Partial<FaultRates>;
  /** "late": the charge is made at once, the answer comes this much later */
  lateMs: number;
  /** normal processing time, drawn uniformly from [min, max] per arrival */
  latencyMs: readonly [number, number];
  /** "rateLimited": the Retry-After value, seconds */
  retryAfterSeconds: number;
  /** honour Idempotency-Key like Stripe (replay completed keys, 409 while in flight) */
  dedupe: boolean;
}

export interface Charge {
  id: string;
  tenant: string;
  payment: string;
  /** the Idempotency-Key the request carried, if any */
  key: string | undefined;
  /** the X-Request-Id the request carried (payguard sets one), if any */
  requestId: string | undefined;
  fault: Fault | "none";
  /** performance.now() when the charge was made */
  at: number;
  /** the 200 answer was written out completely (the peer may still have hung up) */
  answered: boolean;
}

export interface GatewaySim {
  readonly url: string;
  /** every charge, in the order they were made */
  readonly charges: readonly Charge[];
  /** arrivals at /v1/payment_intents, replays and rejections included */
  readonly arrivals: number;
  /** faults injected, by kind */
  readonly faults: Readonly<Record<Fault, number>>;
  /** per "tenant payment": the fault each of its arrivals met, in arrival order */
  schedule(): Record<string, (Fault | "none")[]>;
  /** answers replayed by the gateway's own dedupe (dedupe: true only) */
  readonly replays: number;
  /** charges per "tenant payment" */
  chargesByPayment(): Map<string, Charge[]>;
  /** payments charged more than once */
  doubleCharges(): Charge[][];
  close(): Promise<void>;
}

export const DEFAULT_SIM: GatewaySimOptions = {
  seed: 1,
  faults: {},
  lateMs: 1500,
  latencyMs: [5, 20],
  retryAfterSeconds: 1,
  dedupe: false,
};

/** Where in [0, 1) this arrival falls, and a second independent draw for its latency. */
function draws(seed: number, tenant: string, payment: string, n: number): [number, number] {
  const digest = createHash("sha256").update(`${seed}\0${tenant}\0${payment}\0${n}`).digest();
  return [digest.readUInt32BE(0) / 2 ** 32, digest.readUInt32BE(4) / 2 ** 32];
}

export function pickFault(rates: Partial<FaultRates>, draw: number): Fault | "none" {
  let edge = 0;
  for (const fault of FAULTS) {
    edge += rates[fault] ?? 0;
    if (draw < edge) return fault;
  }
  return "none";
}

interface Stored {
  status: number;
  body: string;
}

export async function startGatewaySim(options: Partial<GatewaySimOptions> = {}): Promise<GatewaySim> {
  const opts: GatewaySimOptions = { ...DEFAULT_SIM, ...options };
  const charges: Charge[] = [];
  const faults = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>;
  const arrivalsOf = new Map<string, (Fault | "none")[]>();
  const completed = new Map<string, Stored>();
  const inFlight = new Set<string>();
  const sockets = new Set<Socket>();
  let arrivals = 0;
  let replays = 0;
  // close() cancels answers still being delayed ("late", latency), so their timers do not
  // keep the process alive; a cancelled request that had not charged yet never charges.
  const closing = new AbortController();
  const { signal } = closing;
  setMaxListeners(0, signal); // one listener per delayed answer, removed when it is sent

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed) return;
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || req.url?.split("?")[0] !== "/v1/payment_intents") {
      return send(res, 404, { error: { type: "invalid_request_error", message: "no such endpoint" } });
    }
    let input: { payment?: unknown; amount?: unknown; currency?: unknown };
    try {
      input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return send(res, 400, { error: { type: "invalid_request_error", message: "body must be JSON" } });
    }
    if (typeof input.payment !== "string" || !Number.isInteger(input.amount) || typeof input.currency !== "string") {
      return send(res, 400, { error: { type: "invalid_request_error", message: "payment, amount and currency are required" } });
    }
    arrivals++;
    const tenant = String(req.headers.authorization ?? "anonymous");
    const payment = input.payment;
    const key = typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : undefined;
    const id = `${tenant} ${payment}`;
    const met = arrivalsOf.get(id) ?? [];
    arrivalsOf.set(id, met);
    const [faultDraw, latencyDraw] = draws(opts.seed, tenant, payment, met.length + 1);
    const fault = pickFault(opts.faults, faultDraw);
    met.push(fault);
    if (fault !== "none") faults[fault]++;
    const [min, max] = opts.latencyMs;
    const latency = min + Math.floor(latencyDraw * (max - min + 1));

    // Faults that happen before the payment is processed: nothing is charged.
    if (fault === "unavailable") return send(res, 503, { error: { type: "api_error", message: "service unavailable, nothing was processed" } });
    if (fault === "rateLimited") {
      return send(res, 429, { error: { type: "rate_limit_error", message: "too many requests" } }, { "retry-after": String(opts.retryAfterSeconds) });
    }
    if (fault === "resetBeforeCharge") return void res.socket?.destroy();

    const dedupeKey = opts.dedupe && key !== undefined ? `${tenant}\0${key}` : undefined;
    if (dedupeKey !== undefined) {
      const stored = completed.get(dedupeKey);
      if (stored) {
        replays++;
        return send(res, stored.status, stored.body, { "idempotent-replayed": "true" });
      }
      if (inFlight.has(dedupeKey)) {
        return send(res, 409, { error: { type: "idempotency_error", code: "idempotency_key_in_use", message: "a request with this key is in progress" } });
      }
      inFlight.add(dedupeKey);
    }
    await sleep(latency, undefined, { signal });

    const requestId = typeof req.headers["x-request-id"] === "string" ? req.headers["x-request-id"] : undefined;
    const charge: Charge = { id: `ch_${charges.length + 1}`, tenant, payment, key, requestId, fault, at: performance.now(), answered: false };
    charges.push(charge);
    const body = JSON.stringify({ id: charge.id, object: "payment_intent", payment, amount: input.amount, currency: input.currency, status: "succeeded" });
    if (dedupeKey !== undefined) {
      completed.set(dedupeKey, { status: 200, body });
      inFlight.delete(dedupeKey);
    }
    if (fault === "resetAfterCharge") return void res.socket?.destroy();
    if (fault === "late") await sleep(opts.lateMs, undefined, { signal });
    res.once("finish", () => {
      charge.answered = true;
    });
    send(res, 200, body, { "request-id": `req_${charge.id}` });
  };

  const server = createServer((req, res) => {
    // A client may hang up at any point; that must not take the gateway down.
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 10_000;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  const chargesByPayment = () => {
    const byPayment = new Map<string, Charge[]>();
    for (const charge of charges) {
      const id = `${charge.tenant} ${charge.payment}`;
      const list = byPayment.get(id);
      if (list) list.push(charge);
      else byPayment.set(id, [charge]);
    }
    return byPayment;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    charges,
    get arrivals() {
      return arrivals;
    },
    faults,
    schedule: () => Object.fromEntries(arrivalsOf),
    get replays() {
      return replays;
    },
    chargesByPayment,
    doubleCharges: () => [...chargesByPayment().values()].filter((list) => list.length > 1),
    close: async () => {
      closing.abort();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
