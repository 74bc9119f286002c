/**
 * What `payguard check` prints for a valid config: the listeners, the store, the gateway
 * profile in force with every default it set, and the effective policy of each route.
 * Secrets (a Redis or PostgreSQL password, the encryption key, a webhook secret) are never printed.
 */
import type { LoadedConfig } from "./config/load.js";
import { compileRoutes, type RoutePolicy } from "./config/routes.js";
import type { Config, GatewayConfig } from "./config/schema.js";
import { formatDuration, formatSize } from "./config/units.js";
import { schemeOf } from "./config/webhooks.js";
import { sdkDisabled } from "./tracing/load.js";

export function checkSummary(file: string, { config, profile, profiles, storeType }: LoadedConfig): string {
  const named = config.gateways[0]?.scoped === true;
  const lines = [
    `config ${file}: ok`,
    named
      ? `  proxy     ${config.server.host}:${config.server.port} → gateway ${config.gateways[0]?.name} (the first)`
      : `  proxy     ${config.server.host}:${config.server.port} → ${describeUpstream(config)}`,
    `  admin     ${config.admin.host}:${config.admin.port} (/healthz /readyz /metrics)`,
    `  limits    body ${formatSize(config.limits.maxBodySize)}, headers ${formatDuration(config.limits.headersTimeout)}, request ${formatDuration(config.limits.requestTimeout)}`,
    `  shutdown  readiness delay ${formatDuration(config.shutdown.readinessDelay)}, drain ${formatDuration(config.shutdown.drainTimeout)}`,
    `  store     ${describeStore(config.store)}`,
    ...(storeType === "url" ? [`            store.type ${config.store.type}: inferred from the scheme of store.url (the file names no type)`] : []),
    ...describeWebhooks(config),
    `  tracing   ${describeTracing(config.tracing)}`,
  ];
  if (!named) lines.push(...describeGateway(config, profile, ""));
  else
    for (const gateway of config.gateways) {
      const listener = gateway.port === undefined ? "" : `, own listener ${config.server.host}:${gateway.port}`;
      lines.push(`  gateway ${gateway.name}: ${describeUpstream(gateway.config)}${listener}`);
      lines.push(...describeGateway(gateway.config, profiles[gateway.name] ?? profile, `${gateway.name}/`).map((l) => `  ${l}`));
    }
  return `${lines.join("\n")}\n`;
}

/** Traces: off, or where spans go and how many traces are sampled (the OTEL_* variables where the file sets nothing). */
function describeTracing(tracing: Config["tracing"]): string {
  if (!tracing.enabled) return "off (no OpenTelemetry SDK loaded)";
  if (sdkDisabled()) return "off: OTEL_SDK_DISABLED=true (no OpenTelemetry SDK loaded)";
  const endpoint =
    tracing.endpoint === undefined ? "from OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else http://localhost:4318/v1/traces" : redactUrl(tracing.endpoint);
  const sampling =
    tracing.sampleRatio === undefined
      ? "sampler from OTEL_TRACES_SAMPLER, else every trace"
      : `new traces sampled at ${tracing.sampleRatio} (a client's traceparent decides for its own)`;
  return `OTLP/HTTP → ${endpoint}; ${sampling}`;
}

/** The webhook listener and each endpoint (its secret never). */
function describeWebhooks(config: Config): string[] {
  const { host, port, endpoints } = config.webhooks;
  if (endpoints.length === 0) return [];
  return [
    `  webhooks  ${host}:${port}`,
    ...endpoints.map((e) => `            POST ${e.path}: gateway ${e.gateway}, ${schemeOf(e, config.gateways)} signatures → ${e.deliverTo}`),
  ];
}

function describeUpstream(config: GatewayConfig): string {
  return `${config.upstream.url} (${config.upstream.connections} connections)`;
}

/** A gateway's profile and the effective policy of each of its routes (`label` prefixes route names). */
function describeGateway(config: GatewayConfig, profile: LoadedConfig["profile"], label: string): string[] {
  const lines = [
    `  gateway   ${profile.gateway} (${profile.chosenBy === "auto" ? "upstream.gateway auto: picked from the host of upstream.url" : "named by upstream.gateway"})`,
    ...describeProfile(profile),
    "  effective policy per route (first match wins; default = no route matched):",
  ];
  const table = compileRoutes(config, label);
  const matchers = new Map(config.routes.map((r, i) => [label + (r.name ?? `route-${i}`), `${(r.methods ?? ["*"]).join(",")} ${r.path}`]));
  for (const route of [...table.routes, table.fallback]) {
    lines.push(`  - ${route.name}${matchers.has(route.name) ? ` (${matchers.get(route.name)})` : ""}`, ...describeRoute(route).map((l) => `      ${l}`));
  }
  return lines;
}

function describeProfile(profile: LoadedConfig["profile"]): string[] {
  if (profile.applied.length === 0) return ["            the profile set no defaults"];
  return [
    "            defaults the profile set (the file did not):",
    ...profile.applied.map((d) => `              ${d.path} = ${JSON.stringify(d.value)}`),
    ...upgradeNotes(profile.applied).map((note) => `            upgrading: ${note} (docs/gateways.md, "Upgrading")`),
  ];
}

/** What these defaults change for a deployment that ran payguard before gateway profiles. */
function upgradeNotes(applied: LoadedConfig["profile"]["applied"]): string[] {
  const set = (path: string) => applied.find((d) => d.path === path);
  const notes: string[] = [];
  if (set("idempotency.scope")) notes.push("the scope is not the generic one, so records stored before have other ids");
  const header = set("idempotency.header");
  if (header && header.value !== "idempotency-key") notes.push(`clients must send their key in ${String(header.value)}`);
  return notes;
}

function describeStore(store: Config["store"]): string {
  const encryption = `encryption ${store.encryption.key ? "on" : "off"}`;
  if (store.type === "memory") return `memory, ${store.maxEntries} entries, ${formatSize(store.maxSize)} (forgotten at a restart)`;
  if (store.type === "sqlite") return `sqlite ${store.path} (synchronous ${store.synchronous}), ${encryption}`;
  const shared = `timeout ${formatDuration(store.operationTimeout)}, when down: ${store.onUnavailable}, journal ${store.journal.dir}${store.journal.fsync ? " (fsync)" : ""}, ${encryption}`;
  if (store.type === "postgres") {
    const { nodes, schema, poolSize } = store.postgres;
    return `postgres ${nodes.length > 0 ? `${nodes.length} nodes (the writable one)` : redactUrl(store.url)}, schema ${schema}, pool ${poolSize}, ${shared}`;
  }
  const where =
    store.sentinel.nodes.length > 0
      ? `sentinel ${store.sentinel.name} (${store.sentinel.nodes.length} nodes)`
      : store.cluster.nodes.length > 0
        ? `cluster (${store.cluster.nodes.length} seed nodes)`
        : redactUrl(store.url);
  return `redis ${where}, prefix ${store.prefix}, ${shared}`;
}

/** The effective resilience and idempotency policy of one route. */
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

/** A Redis, PostgreSQL or collector URL without its password or query (which can carry an API key), for printing. */
function redactUrl(url: string): string {
  const bare = url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(":") ? `${auth.split(":")[0]}:***` : "***"}@`);
  return bare.replace(/\?.+$/, "?***");
}
