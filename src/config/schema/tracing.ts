/**
 * `tracing`: OpenTelemetry traces over OTLP/HTTP. Off by default, and then not loaded. A key
 * left unset here falls to the OpenTelemetry environment variable that sets it
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER[_ARG]`,
 * `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`), then to the SDK's default:
 * what is written in the file wins, as the OpenTelemetry SDKs let code configuration win.
 */
import { z } from "zod";
import { duration, flag, isHttpUrl } from "./fields.js";

export const tracingSection = z
  .strictObject({
    enabled: flag.default(false),
    /** where spans are posted (OTLP/HTTP, JSON), e.g. http://otel-collector:4318/v1/traces; else the environment's, else http://localhost:4318/v1/traces */
    endpoint: z.string().refine(isHttpUrl, "must be an absolute http(s) URL").optional(),
    /** `service.name` of every span; else OTEL_SERVICE_NAME, else "payguard" */
    serviceName: z.string().min(1).optional(),
    /** the share of new traces sampled (0–1); a client's `traceparent` decides for its own trace. Else OTEL_TRACES_SAMPLER[_ARG], else 1 */
    sampleRatio: z.number().min(0).max(1).optional(),
    /** spans waiting for export; once full, new spans are dropped and counted (payguard_trace_spans_total{result="dropped"}). Else OTEL_BSP_MAX_QUEUE_SIZE, else 2048 */
    maxQueueSize: z.number().int().min(1).max(1_000_000).optional(),
    /** spans per export request; else OTEL_BSP_MAX_EXPORT_BATCH_SIZE, else 512 */
    maxExportBatchSize: z.number().int().min(1).optional(),
    /** how long a span may wait for its batch; else OTEL_BSP_SCHEDULE_DELAY, else 1s */
    scheduledDelay: duration({ min: 1 }).optional(),
    /** one export request's limit; else OTEL_EXPORTER_OTLP_TRACES_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT, else 10s */
    exportTimeout: duration({ min: 1 }).optional(),
  })
  .refine((t) => t.maxExportBatchSize === undefined || t.maxQueueSize === undefined || t.maxExportBatchSize <= t.maxQueueSize, {
    message: "must not exceed maxQueueSize",
    path: ["maxExportBatchSize"],
  })
  .prefault({});
