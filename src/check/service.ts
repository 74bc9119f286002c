/** The service shell as check prints it: the admin listener and API, limits, shutdown, tracing. */
import type { Config } from "../config/schema.js";
import { formatDuration, formatSize } from "../config/units.js";
import { sdkDisabled } from "../tracing/load.js";
import { redactUrl } from "./redact.js";

export function describeService(config: Config): string[] {
  const { limits, shutdown } = config;
  const d = formatDuration;
  return [
    ...describeAdmin(config.admin),
    `  limits    body ${formatSize(limits.maxBodySize)}, headers ${d(limits.headersTimeout)}, request ${d(limits.requestTimeout)}`,
    `  shutdown  readiness delay ${d(shutdown.readinessDelay)}, drain ${d(shutdown.drainTimeout)}, settle ${d(shutdown.settleTimeout)} (upstream calls still running, then the store closes)`,
  ];
}

/** The admin listener, and whether its API (/admin/*) is on: its token never. */
function describeAdmin(admin: Config["admin"]): string[] {
  const { api } = admin;
  const state = api.enabled
    ? `on: /admin/records /admin/outcomes /admin/webhooks with the bearer token, stored bodies ${api.revealBodies ? "shown on ?include=body" : "never shown"}`
    : "off (admin.api.enabled false: /admin/* answers 404)";
  return [`  admin     ${admin.host}:${admin.port} (/healthz /readyz /metrics)`, `            admin API ${state}`];
}

/** Traces: off, or where spans go and how many traces are sampled (the OTEL_* variables where the file sets nothing). */
export function describeTracing(tracing: Config["tracing"]): string {
  if (!tracing.enabled) return "  tracing   off (no OpenTelemetry SDK loaded)";
  if (sdkDisabled()) return "  tracing   off: OTEL_SDK_DISABLED=true (no OpenTelemetry SDK loaded)";
  const endpoint =
    tracing.endpoint === undefined ? "from OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, else http://localhost:4318/v1/traces" : redactUrl(tracing.endpoint);
  const sampling =
    tracing.sampleRatio === undefined
      ? "sampler from OTEL_TRACES_SAMPLER, else every trace"
      : `new traces sampled at ${tracing.sampleRatio} (a client's traceparent decides for its own)`;
  return `  tracing   OTLP/HTTP → ${endpoint}; ${sampling}`;
}
