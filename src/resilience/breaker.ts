/**
 * The circuit breaker of an upstream (or of a route with its own settings). It counts what
 * the gateway did wrong: a 5xx, or an attempt that failed on the way (connect, timeout,
 * reset). A 4xx is an answer, not a failure; neither is an attempt cut by the total deadline.
 */
import { type CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen, SamplingBreaker } from "cockatiel";
import type { ResilienceConfig } from "../config/schema.js";
import { AttemptError } from "./attempt.js";

export interface Breaker {
  readonly policy: CircuitBreakerPolicy;
  /** seconds until the open circuit lets a probe through */
  retryAfterSeconds(): number;
}

export function makeBreaker(config: ResilienceConfig["breaker"]): Breaker {
  const failure = handleWhen((err) => err instanceof AttemptError && err.failure.kind !== "other").orWhenResult(isServerError);
  const policy = circuitBreaker(failure, {
    halfOpenAfter: config.halfOpenAfter,
    breaker:
      config.type === "consecutive"
        ? new ConsecutiveBreaker(config.threshold)
        : new SamplingBreaker({
            threshold: config.sampling.failureRate,
            duration: config.sampling.window,
            minimumRps: config.sampling.minRequests / (config.sampling.window / 1000),
          }),
  });
  let openedAt = 0;
  policy.onStateChange((state) => {
    if (state === CircuitState.Open) openedAt = Date.now();
  });
  return {
    policy,
    retryAfterSeconds: () => Math.max(1, Math.ceil((config.halfOpenAfter - (Date.now() - openedAt)) / 1000)),
  };
}

/** An upstream answer with a 5xx status. */
function isServerError(result: unknown): boolean {
  return typeof result === "object" && result !== null && "status" in result && typeof result.status === "number" && result.status >= 500;
}
