/**
 * What the pipeline knows of tracing: a span it can start children of, annotate, end and
 * name as the parent of an outgoing request. No OpenTelemetry type appears here: with
 * `tracing.enabled: false` (the default) no `@opentelemetry/*` module is loaded at all, and
 * every call site is one `?.` on an undefined span. otel.ts implements it when tracing is on.
 *
 * Attributes are named scalars written by payguard: never a header value, a body, a key or
 * card data (docs/operations.md, "Traces").
 */

export type SpanKind = "server" | "client" | "internal";

export type Attributes = Record<string, string | number | boolean | undefined>;

export interface Span {
  /** the trace this span belongs to (32 hex digits), for the access line */
  readonly traceId: string;
  /** a span under this one, started now */
  child(name: string, kind: SpanKind, attributes?: Attributes): Span;
  /** adds attributes; undefined values are left out */
  set(attributes: Attributes): void;
  rename(name: string): void;
  /** `traceparent` (and `tracestate`) naming this span as the parent, as a flat [name, value, …] list */
  propagation(): string[];
  /** ends the span; `error` (an `error.type`: a problem code, an HTTP status) marks it failed */
  end(error?: string): void;
}

export interface Tracing {
  /** the server span of a proxied request, its parent taken from the client's `traceparent` / `tracestate` */
  request(method: string, headers: Readonly<Record<string, string | string[] | undefined>>): Span;
  /** a span that starts a trace of its own (a webhook delivery) */
  root(name: string, kind: SpanKind, attributes?: Attributes): Span;
  /** exports what is queued, within `timeoutMs`; later spans are dropped */
  shutdown(timeoutMs: number): Promise<void>;
}
