/**
 * What the client gets when the policies throw: an upstream failure keeps its cause (the
 * error mapping makes the answer from it); the policies' own refusals become ProxyErrors.
 */
import { isBrokenCircuitError, isBulkheadRejectedError } from "cockatiel";
import { ProxyError } from "../errors.js";
import { UpstreamTimeoutError } from "../upstream/classify.js";
import { AttemptError } from "./attempt.js";
import type { Breaker } from "./breaker.js";

export function localAnswer(err: unknown, breaker: Breaker, totalMs: number): unknown {
  if (err instanceof AttemptError) return err.cause;
  if (isBrokenCircuitError(err)) return new ProxyError("circuit_open", undefined, { "retry-after": String(breaker.retryAfterSeconds()) }, { cause: err });
  if (isBulkheadRejectedError(err)) return new ProxyError("overloaded", undefined, { "retry-after": "1" }, { cause: err });
  if (isTaskCancelled(err)) return new UpstreamTimeoutError(totalMs, "total");
  return err;
}

export function isTotalTimeout(answer: unknown): boolean {
  return answer instanceof UpstreamTimeoutError && answer.limit === "total";
}

/**
 * cockatiel 3.2.1's own isTaskCancelledError tests for the bulkhead's marker property and so
 * never matches; test the TaskCancelledError marker directly.
 */
function isTaskCancelled(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { isTaskCancelledError?: unknown }).isTaskCancelledError === true;
}
