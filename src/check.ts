/**
 * What `payguard check` prints for a valid config: the listeners, the store, the gateway
 * profile in force with every default it set, and the effective policy of each route.
 * Secrets (the Redis password, the encryption key) are never printed.
 */
import type { LoadedConfig } from "./config/load.js";
import { compileRoutes, type RoutePolicy } from "./config/routes.js";
import type { Config } from "./config/schema.js";
import { formatDuration, formatSize } from "./config/units.js";

export function checkSummary(file: string, { config, profile }: LoadedConfig): string {
  const lines = [
    `config ${file}: ok`,
    `  proxy     ${config.server.host}:${config.server.port} → ${config.upstream.url} (${config.upstream.connections} connections)`,
    `  admin     ${config.admin.host}:${config.admin.port} (/healthz /readyz /metrics)`,
    `  limits    body ${formatSize(config.limits.maxBodySize)}, headers ${formatDuration(config.limits.headersTimeout)}, request ${formatDuration(config.limits.requestTimeout)}`,
    `  shutdown  readiness delay ${formatDuration(config.shutdown.readinessDelay)}, drain ${formatDuration(config.shutdown.drainTimeout)}`,
    `  store     ${describeStore(config.store)}`,
    `  gateway   ${profile.gateway} (${profile.chosenBy === "auto" ? "upstream.gateway auto: picked from the host of upstream.url" : "named by upstream.gateway"})`,
    ...(profile.applied.length === 0
      ? ["            the profile set no defaults"]
      : ["            defaults the profile set (the file did not):", ...profile.applied.map((d) => `              ${d.path} = ${JSON.stringify(d.value)}`)]),
    "  effective policy per route (first match wins; default = no route matched):",
  ];
  const table = compileRoutes(config);
  const matchers = new Map(config.routes.map((r, i) => [r.name ?? `route-${i}`, `${(r.methods ?? ["*"]).join(",")} ${r.path}`]));
  for (const route of [...table.routes, table.fallback]) {
    lines.push(`  - ${route.name}${matchers.has(route.name) ? ` (${matchers.get(route.name)})` : ""}`, ...describeRoute(route).map((l) => `      ${l}`));
  }
  return `${lines.join("\n")}\n`;
}

function describeStore(store: Config["store"]): string {
  if (store.type === "memory") return `memory, ${store.maxEntries} entries, ${formatSize(store.maxSize)}`;
  const where = store.cluster.nodes.length > 0 ? `cluster (${store.cluster.nodes.length} seed nodes)` : redactUrl(store.url);
  return `redis ${where}, prefix ${store.prefix}, timeout ${formatDuration(store.operationTimeout)}, when down: ${store.onUnavailable}, journal ${store.journal.dir}${store.journal.fsync ? " (fsync)" : ""}, encryption ${store.encryption.key ? "on" : "off"}`;
}

/** The effective resilience and idempotency policy of one route. */
function describeRoute(route: RoutePolicy): string[] {
  const { timeout, retry, bulkhead, breaker } = route.resilience;
  const d = formatDuration;
  const hints = retry.hints.length > 0 ? `; obeys ${retry.hints.join(", ")}` : "";
  return [
    `timeouts    attempt ${d(timeout.attempt)}, total ${d(timeout.total)}`,
    retry.maxAttempts <= 1
      ? "retry       off (1 attempt)"
      : `retry       up to ${retry.maxAttempts} attempts on ${retry.on.join(", ")}${hints}; backoff ${retry.backoff.type} ${d(retry.backoff.initial)}..${d(retry.backoff.max)} jitter ${retry.backoff.jitter}; Retry-After ${retry.retryAfter.honor ? `honoured up to ${d(retry.retryAfter.max)}` : "ignored"}; budget ${retry.budget.ratio} x requests + ${retry.budget.minPerSecond}/s over ${d(retry.budget.window)}`,
    `bulkhead    ${bulkhead.maxConcurrent} concurrent, ${bulkhead.maxQueue} queued`,
    breaker.type === "consecutive"
      ? `breaker     opens after ${breaker.threshold} failures in a row, half-open after ${d(breaker.halfOpenAfter)}`
      : `breaker     opens at ${breaker.sampling.failureRate * 100}% failures over ${d(breaker.sampling.window)} (min ${breaker.sampling.minRequests} requests), half-open after ${d(breaker.halfOpenAfter)}`,
    describeIdempotency(route.idempotency),
  ];
}

function describeIdempotency(idem: RoutePolicy["idempotency"]): string {
  if (idem.mode === "off") return "idempotency off";
  const key = idem.bodyField === false ? `header ${idem.header}` : `header ${idem.header}, else body field ${idem.bodyField}`;
  const upstream = idem.upstreamKey === false ? "off" : idem.upstreamKey === "body" ? "in the body" : idem.upstreamKey.header;
  const exempt = idem.exempt.length > 0 ? `, exempt: ${idem.exempt.join(" ")}` : "";
  return `idempotency ${idem.mode} for ${idem.methods.join(",")} (${key}, ≤ ${idem.maxKeyLength} characters, ttl ${formatDuration(idem.ttl)}, in flight: ${idem.inFlight.strategy}, upstream key: ${upstream}${exempt})`;
}

/** A Redis URL without its password, for printing. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(":") ? `${auth.split(":")[0]}:***` : "***"}@`);
}
