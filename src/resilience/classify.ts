/**
 * Whether one failed attempt may be retried. Pure: the caller supplies the facts.
 * The safety rule (docs/semantics.md, "Retrying"): a POST/PATCH is re-sent only when
 * every attempt carries the same upstream idempotency key — the gateway then dedupes — or
 * when the failure proves no byte reached the gateway.
 */
import type { ResilienceConfig } from "../config/schema.js";
import type { UpstreamFailure } from "../upstream/classify.js";
import type { ResponseHeaders } from "../upstream/headers.js";

/** Methods whose repetition cannot create a second payment by itself (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/**
 * The safety rule, the one place it is written: sending this request again cannot charge
 * twice when none of it reached the gateway, or its method is idempotent, or the gateway
 * dedupes it by the upstream key it carries.
 */
export function resendSafe(request: { method: string; gatewayDedupes: boolean; maybeSent: boolean }): boolean {
  return !request.maybeSent || request.gatewayDedupes || IDEMPOTENT_METHODS.has(request.method);
}

export type AttemptOutcome = { kind: "response"; status: number; headers: ResponseHeaders } | { kind: "failure"; failure: UpstreamFailure };

export interface RetryFacts {
  method: string;
  /** an upstream idempotency key goes with every attempt */
  keyed: boolean;
  /** ms left before the request's total deadline */
  remainingMs: number;
  now: number;
}

/**
 * Why a retryable-looking failure was not retried (a metric label): decideRetry's four, the
 * attempt cap ("exhausted", verdictOn) and the retry budget ("budget", budget.ts).
 */
export type Suppressed = "unsafe" | "deadline" | "retry_after" | "gateway_hint" | "exhausted" | "budget";

export type RetryDecision = { retry: true; reason: string; minDelayMs: number } | { retry: false; suppressed?: Suppressed; reason?: string };

export function decideRetry(outcome: AttemptOutcome, facts: RetryFacts, retry: ResilienceConfig["retry"]): RetryDecision {
  const reason = conditionOf(outcome);
  // A gateway's hint (Stripe-Should-Retry, Adyen's Transient-Error) overrides the status list
  // either way — for an error: a success is never re-sent, whatever its headers say.
  const hint = outcome.kind === "response" && outcome.status >= 400 ? gatewayHint(outcome.headers, retry.hints) : undefined;
  if (hint === "false") return { retry: false, suppressed: "gateway_hint", reason };
  const listed = retry.on.some((condition) => meets(outcome, condition));
  if (!listed && hint !== "true") return { retry: false };
  const why = reason ?? "gateway_hint";

  const maybeSent = outcome.kind === "response" || outcome.failure.maybeSent;
  if (!resendSafe({ method: facts.method, gatewayDedupes: facts.keyed, maybeSent })) return { retry: false, suppressed: "unsafe", reason: why };
  if (facts.remainingMs <= 0) return { retry: false, suppressed: "deadline", reason: why };

  let minDelayMs = 0;
  if (outcome.kind === "response" && retry.retryAfter.honor) {
    const asked = parseRetryAfter(headerOf(outcome.headers, "retry-after"), facts.now);
    if (asked !== undefined) {
      // The gateway asked for more patience than we may spend: pass its answer through now.
      if (asked > retry.retryAfter.max || asked >= facts.remainingMs) return { retry: false, suppressed: "retry_after", reason: why };
      minDelayMs = asked;
    }
  }
  return { retry: true, reason: why, minDelayMs };
}

/**
 * The verdict on one attempt's outcome, before the budget: the retry decision, then the
 * attempt cap — a retry past retry.maxAttempts is suppressed ("exhausted").
 */
export function verdictOn(outcome: AttemptOutcome, facts: RetryFacts, attemptsMade: number, retry: ResilienceConfig["retry"]): RetryDecision {
  const decision = decideRetry(outcome, facts, retry);
  if (decision.retry && attemptsMade >= retry.maxAttempts) return { retry: false, suppressed: "exhausted", reason: decision.reason };
  return decision;
}

/**
 * Whether an outcome is a condition of `retry.on`: its status (503), its status's class ("5xx"),
 * or its failure kind ("reset").
 */
export function meets(outcome: AttemptOutcome, condition: ResilienceConfig["retry"]["on"][number]): boolean {
  if (outcome.kind === "response" && condition === "5xx") return outcome.status >= 500 && outcome.status <= 599;
  return String(condition) === conditionOf(outcome);
}

/** "503", "connect-error", "attempt-timeout", "reset", or undefined for anything else. */
export function conditionOf(outcome: AttemptOutcome): string | undefined {
  if (outcome.kind === "response") return String(outcome.status);
  switch (outcome.failure.kind) {
    case "connect":
      return "connect-error";
    case "timeout":
      return "attempt-timeout";
    case "reset":
      return "reset";
    default:
      return undefined;
  }
}

/**
 * Retry-After as milliseconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * undefined when absent or unparseable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** "true" or "false" from the first of the hint headers the answer carries (retry.hints). */
function gatewayHint(headers: ResponseHeaders, hints: readonly string[]): "true" | "false" | undefined {
  for (const name of hints) {
    const value = headerOf(headers, name)?.trim().toLowerCase();
    if (value === "true" || value === "false") return value;
  }
  return undefined;
}

function headerOf(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
