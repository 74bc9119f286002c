/**
 * What an upstream result means for the idempotency record. Pure.
 * docs/semantics.md#idempotency ("How each outcome settles the key"): once a request was sent,
 * a timeout, a reset or a 5xx leave the outcome indeterminate — the charge may exist.
 */
import type { StatusMatcher } from "../config/schema.js";

/**
 * store: keep the response for replay. release: the gateway did not act (or said so), the
 * key may be used afresh. indeterminate: the gateway may have acted; nobody knows.
 */
export type Settlement = "store" | "release" | "indeterminate";

/** Statuses that say "not processed, try again" and are never stored (Stripe, the IETF draft). */
const NEVER_STORED = new Set([409, 429]);

export function settleResponse(status: number, replay: readonly StatusMatcher[], notProcessed: readonly StatusMatcher[] = []): Settlement {
  if (NEVER_STORED.has(status) || matchesStatus(status, notProcessed)) return "release";
  if (matchesStatus(status, replay)) return "store";
  if (status >= 500) return "indeterminate";
  return "release";
}

/**
 * What the answer to a background re-send means (completion.ts). 409 and 429 say "not now"
 * (the first request may still be running at the gateway) and a 5xx says nothing: another
 * round. Anything else settles the key as a first answer would.
 */
export function settleResend(status: number, replay: readonly StatusMatcher[], notProcessed: readonly StatusMatcher[] = []): Settlement | "again" {
  if (NEVER_STORED.has(status)) return "again";
  const settlement = settleResponse(status, replay, notProcessed);
  return settlement === "indeterminate" ? "again" : settlement;
}

/** A failure with no answer: released only when no attempt can have reached the gateway. */
export function settleFailure(maybeSent: boolean): Settlement {
  return maybeSent ? "indeterminate" : "release";
}

export function matchesStatus(status: number, matchers: readonly StatusMatcher[]): boolean {
  return matchers.some((m) => (typeof m === "number" ? m === status : m[0] === String(status)[0]));
}
