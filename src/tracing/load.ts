/**
 * Tracing, when `tracing.enabled` is true (and OTEL_SDK_DISABLED is not): the OpenTelemetry
 * SDK is imported here, on demand, as the store clients are. Off, nothing under
 * `@opentelemetry/` is ever loaded and the pipeline's spans are all undefined.
 */
import type { TracingConfig } from "../config/schema.js";
import type { Metrics } from "../metrics/registry.js";
import type { Tracing } from "./types.js";

export async function loadTracing(config: TracingConfig, metrics: Pick<Metrics, "traceSpans">): Promise<Tracing | undefined> {
  if (!config.enabled || process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return undefined;
  const { createTracing } = await import("./otel.js");
  return createTracing(config, metrics);
}
