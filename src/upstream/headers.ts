/**
 * Header hygiene in both directions (RFC 9110 §7.6.1): hop-by-hop headers and every header
 * named in `Connection` stay on their own connection. Towards the gateway, `Host` becomes
 * the upstream's, `X-Forwarded-*` are appended and `X-Request-Id` is set. Pure functions.
 */

/** Headers that describe one connection, never the message. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/**
 * Request headers for payguard itself (`Payguard-Account`, a scope the application sets):
 * never forwarded.
 */
const PAYGUARD_PREFIX = "payguard-";

/** Request headers payguard rewrites itself (the body is buffered, so its length is known). */
const REWRITTEN_ON_REQUEST = new Set(["host", "content-length", "expect", "x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]);

/** Names listed in `Connection` headers ("close" and "keep-alive" included, harmlessly). */
function connectionTokens(values: Iterable<string>): Set<string> {
  const tokens = new Set<string>();
  for (const value of values) {
    for (const token of value.split(",")) {
      const name = token.trim().toLowerCase();
      if (name) tokens.add(name);
    }
  }
  return tokens;
}

export interface ForwardContext {
  /** host[:port] of upstream.url */
  upstreamHost: string;
  requestId: string;
  clientIp: string | undefined;
  /** "http" or "https": how the client reached payguard. */
  proto: string;
  /** body length, or undefined for a request without a body */
  contentLength: number | undefined;
  /** the idempotency key for the gateway: replaces any client header of that name */
  upstreamKey?: { header: string; value: string } | undefined;
  /** tracing is on: the client's traceparent / tracestate are replaced by each attempt's own */
  traced?: boolean;
}

/** W3C trace context: replaced per attempt when payguard traces (otherwise forwarded untouched). */
const TRACE_CONTEXT = new Set(["traceparent", "tracestate"]);

/**
 * Request headers for the gateway, as a flat [name, value, …] list (order and duplicates
 * preserved) from Node's `rawHeaders`.
 */
export function toUpstreamHeaders(rawHeaders: readonly string[], ctx: ForwardContext): string[] {
  const connectionValues: string[] = [];
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (name === "connection") connectionValues.push(value);
    else if (name === "x-forwarded-for") forwardedFor = join(forwardedFor, value);
    else if (name === "x-forwarded-proto") forwardedProto = join(forwardedProto, value);
    else if (name === "x-forwarded-host") forwardedHost = join(forwardedHost, value);
    else if (name === "host") host ??= value;
  }
  const dropped = connectionTokens(connectionValues);
  const keyHeader = ctx.upstreamKey?.header.toLowerCase();

  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REWRITTEN_ON_REQUEST.has(lower) || dropped.has(lower) || lower === keyHeader || lower.startsWith(PAYGUARD_PREFIX)) continue;
    if (ctx.traced && TRACE_CONTEXT.has(lower)) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  out.push("host", ctx.upstreamHost);
  out.push("x-request-id", ctx.requestId);
  if (ctx.clientIp) out.push("x-forwarded-for", join(forwardedFor, ctx.clientIp) as string);
  else if (forwardedFor) out.push("x-forwarded-for", forwardedFor);
  out.push("x-forwarded-proto", join(forwardedProto, ctx.proto) as string);
  if (host) out.push("x-forwarded-host", join(forwardedHost, host) as string);
  else if (forwardedHost) out.push("x-forwarded-host", forwardedHost);
  if (ctx.contentLength !== undefined) out.push("content-length", String(ctx.contentLength));
  if (ctx.upstreamKey) out.push(ctx.upstreamKey.header, ctx.upstreamKey.value);
  return out;
}

/** Appends to a comma-separated list; an empty value adds no empty element ("a, "). */
function join(list: string | undefined, value: string): string | undefined {
  if (!value) return list;
  return list ? `${list}, ${value}` : value;
}

export type ResponseHeaders = Record<string, string | string[] | undefined>;

/**
 * Response headers for the client: everything the gateway sent except hop-by-hop headers
 * and those named in its `Connection` header. Values are untouched.
 */
export function toClientHeaders(headers: ResponseHeaders): Record<string, string | string[]> {
  const connection = headers.connection;
  const dropped = connection === undefined ? undefined : connectionTokens(Array.isArray(connection) ? connection : [connection]);
  // No prototype: a header named `__proto__` is a header like any other, not a prototype.
  const out: Record<string, string | string[]> = Object.create(null);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || dropped?.has(name)) continue;
    out[name] = value;
  }
  return out;
}
