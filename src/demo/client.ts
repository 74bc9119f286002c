/**
 * A payment client that behaves like the gateways' own SDKs: one Idempotency-Key per
 * payment, sent again on every retry; a per-attempt timeout; exponential backoff with
 * jitter; Retry-After honoured on 429/503. It retries what SDKs retry (timeouts, broken
 * connections, 409, 429, 5xx) — except payguard's `outcome_indeterminate`, which says "this
 * payment's outcome is unknown, reconcile it" and is final.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type Dispatcher, request } from "undici";

export interface ClientOptions {
  /** the gateway, or payguard in front of it */
  baseUrl: string;
  dispatcher: Dispatcher;
  /** per attempt: headers and body must arrive within this */
  attemptTimeoutMs: number;
  /** attempts in all (1 = no retries) */
  maxAttempts: number;
  /** backoff before retry n (1-based): initial × 2^(n-1), capped, with jitter */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** a longer Retry-After is cut to this */
  retryAfterMaxMs: number;
}

export interface Payment {
  /** "pay_<i>" */
  id: string;
  /** the tenant's Authorization header value */
  authorization: string;
  amount: number;
  idempotencyKey: string;
}

/** How the payment ended, as far as the client knows. */
export type Result =
  | { kind: "succeeded"; chargeId: string }
  /** payguard's outcome_indeterminate: the payment must be reconciled */
  | { kind: "indeterminate" }
  /** a final refusal, or the client gave up after its last attempt */
  | { kind: "failed"; reason: string };

export interface PaymentOutcome {
  payment: Payment;
  attempts: number;
  /** an answer carried `Idempotent-Replayed: true` */
  replayed: boolean;
  result: Result;
}

/** A non-final attempt: why, when to retry, and whether payguard said the payment may have happened (`outcome: "unknown"`). */
type Attempt = { final: true; result: Result; replayed: boolean } | { final: false; reason: string; retryAfterMs: number | undefined; unknown?: boolean };

/** Pays once, retrying like an SDK, and reports what the client learned. */
export async function pay(payment: Payment, options: ClientOptions): Promise<PaymentOutcome> {
  let replayed = false;
  let lastReason = "no attempt";
  for (let attempt = 1; ; attempt++) {
    const outcome = await attemptOnce(payment, options);
    if (outcome.final) {
      replayed ||= outcome.replayed;
      return { payment, attempts: attempt, replayed, result: outcome.result };
    }
    lastReason = outcome.reason;
    if (attempt >= options.maxAttempts) {
      // Told "unknown" last: it may have been charged — never report it failed.
      const result: Result = outcome.unknown
        ? { kind: "indeterminate" }
        : { kind: "failed", reason: `gave up after ${attempt} attempts (last: ${lastReason})` };
      return { payment, attempts: attempt, replayed, result };
    }
    await sleep(delayBeforeRetry(attempt, outcome.retryAfterMs, options));
  }
}

/** The payment's request, the same on every attempt: path, headers (its key) and body. */
export function paymentRequest(payment: Payment): { path: string; headers: Record<string, string>; body: string } {
  return {
    path: "/v1/payment_intents",
    headers: { authorization: payment.authorization, "idempotency-key": payment.idempotencyKey, "content-type": "application/json" },
    body: JSON.stringify({ payment: payment.id, amount: payment.amount, currency: "eur" }),
  };
}

async function attemptOnce(payment: Payment, options: ClientOptions): Promise<Attempt> {
  const signal = AbortSignal.timeout(options.attemptTimeoutMs);
  const { path, headers, body } = paymentRequest(payment);
  try {
    const res = await request(new URL(path, options.baseUrl), { method: "POST", dispatcher: options.dispatcher, signal, headers, body });
    const text = await res.body.text();
    return classifyAnswer(res.statusCode, res.headers, text);
  } catch (err) {
    // Sent, maybe processed, no answer: exactly the case an idempotency key is for.
    if (signal.aborted) return { final: false, reason: "timeout", retryAfterMs: undefined };
    return { final: false, reason: (err as { code?: string }).code ?? "connection error", retryAfterMs: undefined };
  }
}

function classifyAnswer(status: number, headers: Record<string, string | string[] | undefined>, text: string): Attempt {
  const replayed = headers["idempotent-replayed"] === "true";
  if (status >= 200 && status < 300) {
    const chargeId = parseJson(text)?.id;
    if (typeof chargeId === "string") return { final: true, replayed, result: { kind: "succeeded", chargeId } };
    return { final: true, replayed, result: { kind: "failed", reason: `${status} without a charge id` } };
  }
  const contentType = String(headers["content-type"] ?? "");
  const problem = contentType.startsWith("application/problem+json") ? parseJson(text) : undefined;
  const code = problem?.code;
  if (code === "outcome_indeterminate") return { final: true, replayed, result: { kind: "indeterminate" } };
  if (status === 409 || status === 429 || status >= 500) {
    const reason = typeof code === "string" ? `${status} ${code}` : String(status);
    return { final: false, reason, retryAfterMs: retryAfter(headers["retry-after"]), unknown: problem?.outcome === "unknown" };
  }
  return { final: true, replayed, result: { kind: "failed", reason: typeof code === "string" ? `${status} ${code}` : String(status) } };
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Retry-After in delay-seconds (what the simulated gateway and payguard send), as ms. */
function retryAfter(value: string | string[] | undefined): number | undefined {
  if (typeof value !== "string" || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

/** Exponential backoff with "equal jitter" (half fixed, half random); Retry-After wins when longer. */
function delayBeforeRetry(attempt: number, retryAfterMs: number | undefined, options: ClientOptions): number {
  const exp = Math.min(options.backoffMaxMs, options.backoffInitialMs * 2 ** (attempt - 1));
  const backoff = exp / 2 + Math.random() * (exp / 2);
  return Math.max(backoff, Math.min(retryAfterMs ?? 0, options.retryAfterMaxMs));
}
