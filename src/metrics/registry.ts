/**
 * Every metric payguard exports, defined once. One registry per running instance, so tests
 * can run several instances in one process and read each one's values.
 */
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface Metrics {
  readonly registry: Registry;
  /** One per client request; `outcome` is `upstream` when the gateway answered, else the problem code. */
  readonly requests: Counter<"route" | "method" | "status_class" | "outcome">;
  readonly requestDuration: Histogram<"route" | "method" | "status_class">;
  /** One per upstream attempt; `outcome` is the status class or the failure kind. */
  readonly upstreamAttemptDuration: Histogram<"route" | "outcome">;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: "payguard_requests_total",
      help: "Client requests handled, by route, method, status class and outcome.",
      labelNames: ["route", "method", "status_class", "outcome"],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "payguard_request_duration_seconds",
      help: "Time from request received to response finished, as seen by payguard.",
      labelNames: ["route", "method", "status_class"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    upstreamAttemptDuration: new Histogram({
      name: "payguard_upstream_attempt_duration_seconds",
      help: "Time of each upstream attempt until response headers or failure.",
      labelNames: ["route", "outcome"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
