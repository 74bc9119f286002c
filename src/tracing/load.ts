/**
 * Tracing, when `tracing.enabled` is true (and OTEL_SDK_DISABLED is not): the OpenTelemetry
 * SDK is imported here, on demand, as the store clients are. Off, nothing under
 * `@opentelemetry/` is ever loaded and the pipeline's spans are all undefined.
 */
import type { TracingConfig } from "../config/schema.js";
import type { Metrics } from "../metrics/registry.js";
import type { Tracing } from "./types.js";

/** OTEL_SDK_DISABLED=true turns tracing off whatever the file says (the OpenTelemetry specification's switch). */
export function sdkDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true";
}

export async function loadTracing(config: TracingConfig, metrics: Pick<Metrics, "traceSpans">): Promise<Tracing | undefined> {
  if (!config.enabled || sdkDisabled()) return undefined;
  const { createTracing } = await import("./otel.js");
  return createTracing(config, metrics);
}
