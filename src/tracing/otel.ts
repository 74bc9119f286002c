/**
 * Tracing on: the OpenTelemetry SDK behind tracing/types.ts. Loaded by tracing/load.ts only
 * when `tracing.enabled` is true. Contexts are passed explicitly (a span hands its context to
 * its children): no global context manager, no async hooks on the hot path.
 *
 * - Parent-based sampling: a client's `traceparent` decides for its trace; a new trace is
 *   sampled at `tracing.sampleRatio` (else OTEL_TRACES_SAMPLER[_ARG], else always).
 * - Export: OTLP/HTTP through a BatchSpanProcessor with a bounded queue; the processor's own
 *   self-observability counter feeds payguard_trace_spans_total (span-counter.ts).
 */
import {
  type Context,
  defaultTextMapGetter,
  SpanKind as OtelKind,
  type Span as OtelSpan,
  ROOT_CONTEXT,
  SpanStatusCode,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { getNumberFromEnv, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace";
import { BasicTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import { ATTR_ERROR_TYPE, ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { TracingConfig } from "../config/schema.js";
import type { Metrics } from "../metrics/registry.js";
import { spanCounter } from "./span-counter.js";
import type { Attributes, Span, SpanKind, Tracing } from "./types.js";

/** Writes the propagator's headers straight into a flat [name, value, …] list. */
const APPEND: TextMapSetter<string[]> = { set: (headers, name, value) => void headers.push(name, value) };

const KINDS: Record<SpanKind, OtelKind> = { server: OtelKind.SERVER, client: OtelKind.CLIENT, internal: OtelKind.INTERNAL };

export function createTracing(config: TracingConfig, metrics: Pick<Metrics, "traceSpans">): Tracing {
  // unset keys: the exporter reads OTEL_EXPORTER_OTLP_[TRACES_](ENDPOINT|TIMEOUT) itself
  const exporter = new OTLPTraceExporter({
    ...(config.endpoint === undefined ? {} : { url: config.endpoint }),
    ...(config.exportTimeout === undefined ? {} : { timeoutMillis: config.exportTimeout }),
  });
  // sdk-trace's processor takes the self-observability meter; sdk-trace-base's provider reads
  // OTEL_TRACES_SAMPLER[_ARG] where the file sets no ratio.
  const processor = new BatchSpanProcessor({
    exporter,
    ...batchOf(config),
    selfObsMeterProvider: spanCounter(metrics.traceSpans),
  });
  const provider = new BasicTracerProvider({
    resource: resourceOf(config),
    spanProcessors: [processor],
    ...samplerOf(config),
  });
  const tracer = provider.getTracer("payguard");
  const propagator = new W3CTraceContextPropagator();

  const start = (name: string, kind: SpanKind, parent: Context, attributes?: Attributes): Span => {
    const span = tracer.startSpan(name, { kind: KINDS[kind], ...(attributes === undefined ? {} : { attributes: defined(attributes) }) }, parent);
    return handle(span, trace.setSpan(parent, span));
  };

  const handle = (span: OtelSpan, context: Context): Span => ({
    traceId: span.spanContext().traceId,
    child: (name, kind, attributes) => start(name, kind, context, attributes),
    set: (attributes) => void span.setAttributes(defined(attributes)),
    rename: (name) => void span.updateName(name),
    propagation() {
      const headers: string[] = [];
      propagator.inject(context, headers, APPEND);
      return headers;
    },
    end(error) {
      if (error !== undefined) {
        span.setAttribute(ATTR_ERROR_TYPE, error);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  });

  return {
    request(method, headers) {
      const parent = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      return start(method, "server", parent);
    },
    root: (name, kind, attributes) => start(name, kind, ROOT_CONTEXT, attributes),
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([provider.shutdown().catch(() => {}), late]);
      clearTimeout(timer);
    },
  };
}

/** The processor's settings: the file's, else OTEL_BSP_* (sdk-trace's processor reads no environment), else the SDK's defaults. */
function batchOf(config: TracingConfig) {
  const pick = (value: number | undefined, env: string, fallback: number) => value ?? getNumberFromEnv(env) ?? fallback;
  return {
    maxQueueSize: pick(config.maxQueueSize, "OTEL_BSP_MAX_QUEUE_SIZE", 2048),
    maxExportBatchSize: pick(config.maxExportBatchSize, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
    scheduledDelayMillis: pick(config.scheduledDelay, "OTEL_BSP_SCHEDULE_DELAY", 1_000),
    exportTimeoutMillis: pick(config.exportTimeout, "OTEL_BSP_EXPORT_TIMEOUT", 10_000),
  };
}

/** service.name: the file's, else OTEL_SERVICE_NAME's, else "payguard"; OTEL_RESOURCE_ATTRIBUTES and the SDK's own attributes add to it. */
function resourceOf(config: TracingConfig) {
  const fromEnv = detectResources({ detectors: [envDetector] });
  const name = config.serviceName ?? (fromEnv.attributes[ATTR_SERVICE_NAME] as string | undefined) ?? "payguard";
  // the SDK's own (telemetry.sdk.*), then the environment's, then the name
  return defaultResource()
    .merge(fromEnv)
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: name }));
}

/** The file's ratio wins; without one, the SDK reads OTEL_TRACES_SAMPLER[_ARG] (default: parent-based, always on). */
function samplerOf(config: TracingConfig) {
  if (config.sampleRatio === undefined) return {};
  return { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }) };
}

function defined(attributes: Attributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const name in attributes) {
    const value = attributes[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
