/** The resilience section: timeouts, retries and their budget, the bulkhead, the breaker. */
import { z } from "zod";
import { duration, flag, headerName, int, statusCode } from "./fields.js";
import { type Mode, opt, section } from "./overridable.js";

/**
 * What a retry may be triggered by: a failure kind, every 5xx status ("5xx", the class as
 * `idempotency.replay` names it), or one gateway status. No other class: a 4xx is the
 * gateway's answer about the request, retried only one by one (429, 409).
 */
const RETRY_FAILURES = ["connect-error", "attempt-timeout", "reset"] as const;
const retryCondition = z.union([z.enum([...RETRY_FAILURES, "5xx"]), statusCode(400, 599)]);

export function resilienceSection<M extends Mode>(mode: M) {
  return section(mode, {
    /** per-attempt and overall upstream timeouts: the retries run inside `total` */
    timeout: section(mode, {
      attempt: opt(mode, duration({ min: 1 }), 10_000),
      total: opt(mode, duration({ min: 1 }), 30_000),
    }),
    retry: retrySection(mode),
    bulkhead: section(mode, {
      maxConcurrent: opt(mode, int({ min: 1, max: 100_000 }), 256),
      maxQueue: opt(mode, int({ min: 0, max: 1_000_000 }), 512),
    }),
    breaker: section(mode, {
      type: opt(mode, z.enum(["consecutive", "sampling"]), "consecutive"),
      threshold: opt(mode, int({ min: 1, max: 1000 }), 5),
      sampling: section(mode, {
        failureRate: opt(mode, z.number().gt(0).max(1), 0.5),
        window: opt(mode, duration({ min: 1000 }), 30_000),
        minRequests: opt(mode, int({ min: 1, max: 1_000_000 }), 20),
      }),
      halfOpenAfter: opt(mode, duration({ min: 1 }), 10_000),
    }),
  });
}

function retrySection<M extends Mode>(mode: M) {
  return section(mode, {
    maxAttempts: opt(mode, int({ min: 1, max: 10 }), 3),
    backoff: section(mode, {
      type: opt(mode, z.enum(["exponential"]), "exponential"),
      initial: opt(mode, duration({ min: 1 }), 100),
      max: opt(mode, duration({ min: 1 }), 5_000),
      jitter: opt(mode, z.enum(["decorrelated", "full", "none"]), "decorrelated"),
    }),
    on: opt(mode, z.array(retryCondition), ["connect-error", "attempt-timeout", "reset", 502, 503, 504, 429]),
    /**
     * response headers by which the gateway says whether a retry is safe: "true" retries
     * even a status not in `on`, "false" never retries (Stripe-Should-Retry; profiles set it)
     */
    hints: opt(mode, z.array(headerName), []),
    retryAfter: section(mode, {
      honor: opt(mode, flag, true),
      max: opt(mode, duration(), 10_000),
    }),
    budget: section(mode, {
      ratio: opt(mode, z.number().min(0).max(10), 0.2),
      minPerSecond: opt(mode, z.number().min(0), 10),
      window: opt(mode, duration({ min: 1000, max: 3_600_000 }), 10_000),
    }),
  });
}
