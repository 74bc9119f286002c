/** The effective resilience and idempotency policy of a gateway's routes, as check prints it. */
import { compileRoutes, type RoutePolicy } from "../config/routes.js";
import type { GatewayConfig } from "../config/schema.js";
import { formatDuration } from "../config/units.js";

/** Each route of `config` (then the fallback), `label` prefixing route names. */
export function describeRoutes(config: GatewayConfig, label: string): string[] {
  const lines = ["  effective policy per route (first match wins; default = no route matched):"];
  const table = compileRoutes(config, label);
  const matchers = new Map(config.routes.map((r, i) => [label + (r.name ?? `route-${i}`), `${(r.methods ?? ["*"]).join(",")} ${r.path}`]));
  for (const route of [...table.routes, table.fallback]) {
    lines.push(`  - ${route.name}${matchers.has(route.name) ? ` (${matchers.get(route.name)})` : ""}`, ...describeRoute(route).map((l) => `      ${l}`));
  }
  return lines;
}

function describeRoute(route: RoutePolicy): string[] {
  const { timeout, bulkhead, breaker } = route.resilience;
  const d = formatDuration;
  return [
    `timeouts    attempt ${d(timeout.attempt)}, total ${d(timeout.total)}`,
    describeRetry(route.resilience.retry),
    `bulkhead    ${bulkhead.maxConcurrent} concurrent, ${bulkhead.maxQueue} queued`,
    breaker.type === "consecutive"
      ? `breaker     opens after ${breaker.threshold} failures in a row, half-open after ${d(breaker.halfOpenAfter)}`
      : `breaker     opens at ${breaker.sampling.failureRate * 100}% failures over ${d(breaker.sampling.window)} (min ${breaker.sampling.minRequests} requests), half-open after ${d(breaker.halfOpenAfter)}`,
    describeIdempotency(route.idempotency),
  ];
}

function describeRetry(retry: RoutePolicy["resilience"]["retry"]): string {
  if (retry.maxAttempts <= 1) return "retry       off (1 attempt)";
  const d = formatDuration;
  const { backoff, retryAfter, budget } = retry;
  return [
    `retry       up to ${retry.maxAttempts} attempts on ${retry.on.join(", ")}${retry.hints.length > 0 ? `; obeys ${retry.hints.join(", ")}` : ""}`,
    `backoff ${backoff.type} ${d(backoff.initial)}..${d(backoff.max)} jitter ${backoff.jitter}`,
    `Retry-After ${retryAfter.honor ? `honoured up to ${d(retryAfter.max)}` : "ignored"}`,
    `budget ${budget.ratio} x requests + ${budget.minPerSecond}/s over ${d(budget.window)}`,
  ].join("; ");
}

function describeIdempotency(idem: RoutePolicy["idempotency"]): string {
  if (idem.mode === "off") return "idempotency off";
  const key = idem.bodyField === false ? `header ${idem.header}` : `header ${idem.header}, else body field ${idem.bodyField}`;
  const upstream = idem.upstreamKey === false ? "off" : idem.upstreamKey === "body" ? "in the body" : idem.upstreamKey.header;
  const exempt = idem.exempt.length > 0 ? `, exempt: ${idem.exempt.join(" ")}` : "";
  return `idempotency ${idem.mode} for ${idem.methods.join(",")} (${key}, ≤ ${idem.maxKeyLength} characters, ttl ${formatDuration(idem.ttl)}, in flight: ${idem.inFlight.strategy}, upstream key: ${upstream}${exempt})`;
}
