/**
 * payguard_trace_spans_total from the BatchSpanProcessor's own self-observability counter
 * (`otel.sdk.processor.span.processed`): a span it drops because its queue is full carries
 * `error.type="queue_full"` (counted as dropped), a span whose export failed carries the
 * error's type (counted as export_failed: a bounded label), and an exported span none. The processor has no other drop hook; this meter provider is handed to it
 * alone and answers every other instrument with the API's no-op.
 */
import { type Attributes, type Counter, createNoopMeter, type Meter, type MeterProvider } from "@opentelemetry/api";
import type { Counter as PromCounter } from "prom-client";

const PROCESSED = "otel.sdk.processor.span.processed";

export function spanCounter(spans: PromCounter<"result">): MeterProvider {
  const noop = createNoopMeter();
  const meter: Meter = Object.create(noop);
  meter.createCounter = <A extends Attributes>(name: string, options?: Parameters<Meter["createCounter"]>[1]): Counter<A> => {
    if (name !== PROCESSED) return noop.createCounter<A>(name, options);
    return {
      add(value, attributes) {
        const error = attributes?.["error.type"];
        const result = error === undefined ? "exported" : error === "queue_full" ? "dropped" : "export_failed";
        spans.inc({ result }, value);
      },
    };
  };
  return { getMeter: () => meter };
}
