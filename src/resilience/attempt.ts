/**
 * One attempt, bounded by the attempt timeout or by what is left of the total deadline,
 * whichever ends first: one timer and one AbortController, cleared once the headers are in
 * (the body has undici's bodyTimeout). cockatiel's timeout policy would cost two of each per
 * request, with their events. The deadline's signal (a queued request's race, a background
 * re-send's shutdown) aborts it too. Its abort cancels the undici request, whose socket is
 * then destroyed, never reused.
 */
import type { ResilienceConfig } from "../config/schema.js";
import { classifyUpstreamError, type UpstreamFailure, UpstreamTimeoutError } from "../upstream/classify.js";
import type { UpstreamResponse } from "../upstream/client.js";
import type { Deadline } from "./deadline.js";
import type { RouteEvents } from "./events.js";

/** Sends one attempt; the signal is the attempt's own (attempt timeout, total deadline). */
export type SendAttempt = (signal: AbortSignal) => Promise<UpstreamResponse>;

/** What one client request's attempts add up to; only the attempts write it. */
export interface AttemptTally {
  attempts: number;
  /** attempts that may have reached the gateway: counted at the start, uncounted when a failure proves otherwise */
  maybeSent: number;
}

export function newTally(): AttemptTally {
  return { attempts: 0, maybeSent: 0 };
}

/** A failed attempt: what went wrong, and the error the client's answer is made from. */
export class AttemptError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly failure: UpstreamFailure,
  ) {
    super(failure.code);
  }
}

type Cut = "attempt" | "total" | undefined;

export function attemptUnder(timeout: ResilienceConfig["timeout"], events: Pick<RouteEvents, "attempt">) {
  return async function attempt(send: SendAttempt, deadline: Deadline, tally: AttemptTally): Promise<UpstreamResponse> {
    const remaining = deadline.remaining();
    // kind "other": not a gateway failure (the breaker must not count it), not retryable.
    if (remaining <= 0 || deadline.closed) throw new AttemptError(totalTimeout(), { kind: "other", maybeSent: false, code: "PAYGUARD_TOTAL_TIMEOUT" });
    tally.attempts += 1;
    tally.maybeSent += 1;
    const byTotal = remaining < timeout.attempt;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), byTotal ? remaining : timeout.attempt);
    const unfollow = follow(deadline.signal, controller);
    const started = performance.now();
    try {
      const response = await send(controller.signal);
      events.attempt.emit({ status: response.status, seconds: (performance.now() - started) / 1000 });
      return response;
    } catch (err) {
      const failure = attemptFailure(err, controller.signal.aborted ? (byTotal || deadline.signal?.aborted ? "total" : "attempt") : undefined);
      if (!failure.maybeSent) tally.maybeSent -= 1;
      events.attempt.emit({ failure: failure.kind, seconds: (performance.now() - started) / 1000, attemptTimeout: failure.cutBy === "attempt" });
      throw new AttemptError(failure.cause ?? err, failure);
    } finally {
      clearTimeout(timer);
      unfollow?.();
    }
  };

  function totalTimeout(): UpstreamTimeoutError {
    return new UpstreamTimeoutError(timeout.total, "total");
  }

  /**
   * What a failed attempt was. Cut by the total deadline: kind "other" (not the gateway's
   * fault alone: the breaker does not count it; not retried, nothing is left of the deadline).
   */
  function attemptFailure(err: unknown, cutBy: Cut): UpstreamFailure & { cause?: unknown; cutBy?: Cut } {
    if (cutBy === "total") return { kind: "other", maybeSent: true, code: "PAYGUARD_TOTAL_TIMEOUT", cause: totalTimeout(), cutBy };
    const cause = cutBy === "attempt" ? new UpstreamTimeoutError(timeout.attempt, "attempt") : err;
    const failure = classifyUpstreamError(cause) ?? { kind: "other" as const, maybeSent: true, code: (cause as Error)?.name ?? "unknown" };
    return { ...failure, cause, cutBy };
  }
}

/** Aborts `controller` with `outer` until the returned function is called (none without one: the hot path). */
function follow(outer: AbortSignal | undefined, controller: AbortController): (() => void) | undefined {
  if (outer === undefined) return undefined;
  const abort = () => controller.abort();
  outer.addEventListener("abort", abort, { once: true });
  return () => outer.removeEventListener("abort", abort);
}
