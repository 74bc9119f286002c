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
 *
 * With `webhooks`, every charge is followed by its event, posted there late, duplicated and
 * out of order (webhooks.ts).
 */
import { setMaxListeners } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Fault, FaultRates } from "./faults.js";
import { type AnswerOptions, paymentHandler } from "./handler.js";
import { type Charge, Ledger } from "./ledger.js";
import { EventSender, type SimWebhookOptions } from "./webhooks.js";

export { FAULTS, type Fault, type FaultRates, pickFault } from "./faults.js";
export type { Charge } from "./ledger.js";
export type { EventTally, SimWebhookOptions } from "./webhooks.js";

export interface GatewaySimOptions extends AnswerOptions {
  seed: number;
  faults: Partial<FaultRates>;
  /** normal processing time, drawn uniformly from [min, max] per arrival */
  latencyMs: readonly [number, number];
  /** post an event after every charge */
  webhooks?: SimWebhookOptions;
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
  /** the charges' events (with `webhooks`) */
  readonly events: EventSender | undefined;
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

export async function startGatewaySim(options: Partial<GatewaySimOptions> = {}): Promise<GatewaySim> {
  const opts: GatewaySimOptions = { ...DEFAULT_SIM, ...options };
  const ledger = new Ledger();
  // close() cancels answers still being delayed (see paymentHandler).
  const closing = new AbortController();
  setMaxListeners(0, closing.signal); // one listener per delayed answer, removed when it is sent
  const events = opts.webhooks && new EventSender(opts.webhooks, opts.seed, closing.signal);
  const handle = paymentHandler(opts, ledger, closing.signal, events && ((charge, amount, currency) => events.charged(charge, amount, currency)));
  const server = createServer((req, res) => {
    // A client may hang up at any point; that must not take the gateway down.
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 10_000;
  const sockets = trackSockets(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    charges: ledger.charges,
    get arrivals() {
      return ledger.arrivals;
    },
    faults: ledger.faults,
    schedule: () => Object.fromEntries(ledger.arrivalsOf),
    get replays() {
      return ledger.replays;
    },
    chargesByPayment: () => ledger.chargesByPayment(),
    doubleCharges: () => [...ledger.chargesByPayment().values()].filter((list) => list.length > 1),
    events,
    close: async () => {
      closing.abort();
      await events?.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The server's open connections, so close() can cut keep-alive ones at once. */
function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return sockets;
}
