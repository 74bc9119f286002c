/**
 * The simulated gateway's one endpoint, POST /v1/payment_intents: validates the payment,
 * meets the fault its arrival drew, dedupes (with `dedupe: true`), charges and answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Fault } from "./faults.js";
import type { ArrivalDraw, Charge, Ledger } from "./ledger.js";

/** How the gateway answers (the rest of its options shape what it draws: ledger.ts). */
export interface AnswerOptions {
  /** "late": the charge is made at once, the answer comes this much later */
  lateMs: number;
  /** "rateLimited": the Retry-After value, seconds */
  retryAfterSeconds: number;
  /** honour Idempotency-Key like Stripe (replay completed keys, 409 while in flight) */
  dedupe: boolean;
}

interface PaymentInput {
  payment: string;
  amount: unknown;
  currency: string;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}

/** The payment the request asks for; undefined once a 404 or 400 has been sent. */
async function readPayment(req: IncomingMessage, res: ServerResponse): Promise<PaymentInput | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (req.method !== "POST" || req.url?.split("?")[0] !== "/v1/payment_intents") {
    return void send(res, 404, { error: { type: "invalid_request_error", message: "no such endpoint" } });
  }
  let input: { payment?: unknown; amount?: unknown; currency?: unknown };
  try {
    input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return void send(res, 400, { error: { type: "invalid_request_error", message: "body must be JSON" } });
  }
  if (typeof input.payment !== "string" || !Number.isInteger(input.amount) || typeof input.currency !== "string") {
    return void send(res, 400, { error: { type: "invalid_request_error", message: "payment, amount and currency are required" } });
  }
  return { payment: input.payment, amount: input.amount, currency: input.currency };
}

/** Faults that happen before the payment is processed: nothing is charged. True if one was met. */
function failedBeforeCharge(res: ServerResponse, fault: Fault | "none", opts: AnswerOptions): boolean {
  if (fault === "unavailable") send(res, 503, { error: { type: "api_error", message: "service unavailable, nothing was processed" } });
  else if (fault === "rateLimited") {
    send(res, 429, { error: { type: "rate_limit_error", message: "too many requests" } }, { "retry-after": String(opts.retryAfterSeconds) });
  } else if (fault === "resetBeforeCharge") res.socket?.destroy();
  else return false;
  return true;
}

/** The gateway's own dedupe: true when the key's stored answer or a 409 was sent. */
function answeredByDedupe(res: ServerResponse, ledger: Ledger, dedupeKey: string): boolean {
  const claim = ledger.claim(dedupeKey);
  if (claim === "claimed") return false;
  if (claim === "in-flight") {
    send(res, 409, { error: { type: "idempotency_error", code: "idempotency_key_in_use", message: "a request with this key is in progress" } });
  } else {
    // The replay answers for the key's charge: once it is written out, that charge is answered
    // (its own answer may have died with a reset after the charge).
    res.once("finish", () => {
      claim.charge.answered = true;
    });
    send(res, claim.status, claim.body, { "idempotent-replayed": "true" });
  }
  return true;
}

/**
 * The request handler. `signal` cancels answers still being delayed ("late", latency) on
 * close(), so their timers do not keep the process alive; a cancelled request that had not
 * charged yet never charges.
 */
export function paymentHandler(
  opts: AnswerOptions & ArrivalDraw,
  ledger: Ledger,
  signal: AbortSignal,
  onCharge?: (charge: Charge, amount: unknown, currency: string) => void,
) {
  return async function handlePayment(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const input = await readPayment(req, res);
    if (!input) return;
    const tenant = String(req.headers.authorization ?? "anonymous");
    const { payment } = input;
    const key = header(req, "idempotency-key");
    const { fault, latency } = ledger.arrive(opts, tenant, payment);
    if (failedBeforeCharge(res, fault, opts)) return;

    const dedupeKey = opts.dedupe && key !== undefined ? `${tenant}\0${key}` : undefined;
    if (dedupeKey !== undefined && answeredByDedupe(res, ledger, dedupeKey)) return;
    await sleep(latency, undefined, { signal });

    const charge = ledger.charge({ tenant, payment, key, requestId: header(req, "x-request-id"), fault });
    onCharge?.(charge, input.amount, input.currency);
    const body = JSON.stringify({ id: charge.id, object: "payment_intent", payment, amount: input.amount, currency: input.currency, status: "succeeded" });
    if (dedupeKey !== undefined) ledger.complete(dedupeKey, { status: 200, body, charge });
    if (fault === "resetAfterCharge") return void res.socket?.destroy();
    if (fault === "late") await sleep(opts.lateMs, undefined, { signal });
    res.once("finish", () => {
      charge.answered = true;
    });
    send(res, 200, body, { "request-id": `req_${charge.id}` });
  };
}
