/**
 * Policy events → metrics, the one place they meet. The policies only emit (cockatiel's
 * onStateChange and onReject, the route's RouteEvents, the budget's onSpent); the names,
 * labels and values of the metrics are chosen here.
 */
import { type BulkheadPolicy, type CircuitBreakerPolicy, CircuitState } from "cockatiel";
import type { ResilienceConfig } from "../config/schema.js";
import { type Metrics, statusClass } from "../metrics/registry.js";
import type { RetryBudgetPolicy } from "./budget.js";
import type { RouteEvents } from "./events.js";

/** payguard_breaker_state: 0 closed, 1 open (and isolated), 2 half-open. */
const BREAKER_STATE = { [CircuitState.Closed]: 0, [CircuitState.Open]: 1, [CircuitState.HalfOpen]: 2, [CircuitState.Isolated]: 1 } as const;
const BREAKER_NAME = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "isolated",
};

export function bindBreaker(name: string, breaker: CircuitBreakerPolicy, metrics: Metrics): void {
  metrics.breakerState.set({ breaker: name }, 0);
  breaker.onStateChange((state) => {
    metrics.breakerState.set({ breaker: name }, BREAKER_STATE[state]);
    metrics.breakerTransitions.inc({ breaker: name, to: BREAKER_NAME[state] });
  });
}

export function bindBulkhead(name: string, bulk: BulkheadPolicy, config: ResilienceConfig["bulkhead"], metrics: Metrics): void {
  metrics.observeBulkhead(name, () => ({ active: config.maxConcurrent - bulk.executionSlots, queued: config.maxQueue - bulk.queueSlots }));
  bulk.onReject(() => metrics.bulkheadRejections.inc({ bulkhead: name }));
}

export function bindRoute(route: string, events: RouteEvents, budget: RetryBudgetPolicy, metrics: Metrics): void {
  events.attempt.addListener((ended) => {
    if ("status" in ended) return metrics.upstreamAttemptDuration.observe({ route, outcome: statusClass(ended.status) }, ended.seconds);
    if (ended.attemptTimeout) metrics.timeouts.inc({ route, kind: "attempt" });
    metrics.upstreamAttemptDuration.observe({ route, outcome: ended.failure }, ended.seconds);
  });
  events.retry.addListener(({ reason }) => metrics.retries.inc({ route, reason }));
  events.suppressed.addListener(({ reason }) => metrics.retriesSuppressed.inc({ route, reason }));
  budget.onSpent(() => metrics.retriesSuppressed.inc({ route, reason: "budget" }));
  events.totalTimeout.addListener(() => metrics.timeouts.inc({ route, kind: "total" }));
  events.done.addListener(({ attempts }) => metrics.attemptsPerRequest.observe({ route }, attempts));
}
