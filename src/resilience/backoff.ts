/**
 * Exponential backoff with jitter (cockatiel), stretched to a Retry-After the gateway asked
 * for, and never past the request's total deadline. It reads both from the outcome it waits
 * after, the `result` of cockatiel's IRetryBackoffContext, whose `ctx` the verdict set.
 */
import {
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  type FailureReason,
  fullJitterGenerator,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
  noJitterGenerator,
} from "cockatiel";
import type { ResilienceConfig } from "../config/schema.js";
import type { RetryTiming } from "./deadline.js";

/** The part of cockatiel's backoff context this backoff reads. */
export type BackoffContext = Partial<Pick<IRetryBackoffContext<unknown>, "result">>;

export class DeadlineBackoff implements IBackoffFactory<BackoffContext> {
  readonly #exponential: IBackoffFactory<unknown>;

  constructor(config: ResilienceConfig["retry"]["backoff"]) {
    this.#exponential = exponential(config);
  }

  next(context: BackoffContext): IBackoff<BackoffContext> {
    return step(this.#exponential.next(context), context);
  }
}

function step(inner: IBackoff<unknown>, context: BackoffContext): IBackoff<BackoffContext> {
  const timing = timingOf(context.result);
  const wanted = Math.max(inner.duration, timing?.minDelayMs ?? 0);
  const next = (following: BackoffContext) => step(inner.next(following), following);
  if (timing === undefined) return { duration: wanted, next };
  const remaining = timing.deadline - Date.now();
  // The wait runs into the deadline: the retry after it must not start.
  if (wanted >= remaining) timing.spend?.();
  return { duration: Math.max(0, Math.min(wanted, remaining)), next };
}

function timingOf(result: FailureReason<unknown> | undefined): RetryTiming | undefined {
  if (result === undefined) return undefined;
  const outcome = "value" in result ? result.value : result.error;
  return carriesTiming(outcome) ? outcome.ctx : undefined;
}

function carriesTiming(outcome: unknown): outcome is { ctx: RetryTiming } {
  return typeof outcome === "object" && outcome !== null && "ctx" in outcome && outcome.ctx !== undefined;
}

/** cockatiel's exponential backoff with the configured jitter. */
function exponential(config: ResilienceConfig["retry"]["backoff"]): IBackoffFactory<unknown> {
  const options = { initialDelay: config.initial, maxDelay: config.max };
  switch (config.jitter) {
    case "decorrelated":
      return new ExponentialBackoff({ ...options, generator: decorrelatedJitterGenerator });
    case "full":
      return new ExponentialBackoff({ ...options, generator: fullJitterGenerator });
    default:
      return new ExponentialBackoff({ ...options, generator: noJitterGenerator });
  }
}
