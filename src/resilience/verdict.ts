/**
 * The verdict on each attempt, reached once, as it ends, between the retry and the breaker:
 * the pure retry decision with the attempt cap (classify.ts), then the retry budget. The
 * outcome carries it up to the retry, whose predicate only reads it (`wantsRetry`), and to
 * the backoff, which reads `ctx` (DeadlineBackoff).
 */
import type { ResilienceConfig } from "../config/schema.js";
import type { UpstreamResponse } from "../upstream/client.js";
import { AttemptError } from "./attempt.js";
import type { RetryBudgetPolicy } from "./budget.js";
import { type AttemptOutcome, type RetryDecision, verdictOn } from "./classify.js";
import type { Deadline, RetryTiming } from "./deadline.js";
import type { RouteEvents } from "./events.js";

/** The facts of a client request that decide what is safe to re-send. */
export interface RequestFacts {
  readonly method: string;
  /** an upstream idempotency key goes with every attempt */
  readonly keyed: boolean;
}

export interface Judged {
  readonly verdict: RetryDecision;
  /** for the backoff: set when the verdict is to retry */
  readonly ctx: RetryTiming | undefined;
}

/** An attempt the gateway answered (any status), with the verdict on it. */
export interface JudgedAnswer extends Judged {
  readonly response: UpstreamResponse;
}

/** A failed attempt, with the verdict on it. */
export class JudgedFailure extends AttemptError implements Judged {
  constructor(
    failed: AttemptError,
    readonly verdict: RetryDecision,
    readonly ctx: RetryTiming | undefined,
  ) {
    super(failed.cause, failed.failure);
  }
}

/** The retry policy's predicate, for answers and errors alike: pure, it reads the verdict. */
export function wantsRetry(outcome: unknown): boolean {
  return isJudged(outcome) && outcome.verdict.retry;
}

export function isJudged(value: unknown): value is Judged {
  return typeof value === "object" && value !== null && "verdict" in value;
}

export function isJudgedAnswer(value: unknown): value is JudgedAnswer {
  return isJudged(value) && "response" in value;
}

/** Why a retry was made: the verdict's reason (a metric label). */
export function retryReason(outcome: unknown): string {
  return isJudged(outcome) && outcome.verdict.retry ? outcome.verdict.reason : "unknown";
}

export function judging(retry: ResilienceConfig["retry"], budget: RetryBudgetPolicy, events: Pick<RouteEvents, "suppressed">) {
  const verdictOf = (outcome: AttemptOutcome, request: RequestFacts, deadline: Deadline, attemptsMade: number): RetryDecision => {
    const now = Date.now();
    const facts = { method: request.method, keyed: request.keyed, remainingMs: deadline.remaining(now), now };
    const wanted = verdictOn(outcome, facts, attemptsMade, retry);
    if (!wanted.retry && wanted.suppressed !== undefined) events.suppressed.emit({ reason: wanted.suppressed });
    return budget.grant(wanted);
  };
  const timing = (verdict: RetryDecision, deadline: Deadline) => (verdict.retry ? deadline.timing(verdict.minDelayMs) : undefined);

  /** Runs attempt number `attemptsMade` (from 1) and judges how it ended. */
  return function judged(run: () => Promise<UpstreamResponse>, request: RequestFacts, deadline: Deadline, attemptsMade: number): Promise<JudgedAnswer> {
    return run().then(
      (response) => {
        const verdict = verdictOf({ kind: "response", status: response.status, headers: response.headers }, request, deadline, attemptsMade);
        return { response, verdict, ctx: timing(verdict, deadline) };
      },
      (err: unknown) => {
        if (!(err instanceof AttemptError)) throw err;
        const verdict = verdictOf({ kind: "failure", failure: err.failure }, request, deadline, attemptsMade);
        throw new JudgedFailure(err, verdict, timing(verdict, deadline));
      },
    );
  };
}
