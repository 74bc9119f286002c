/**
 * The one place where failures become HTTP answers. Everything payguard answers itself is an
 * RFC 9457 problem (application/problem+json) with a stable `code`, the request id, and the
 * `Payguard-Origin: proxy` header so callers can tell it from a gateway response.
 * Upstream 4xx/5xx responses are not errors: they pass through untouched.
 * https://www.rfc-editor.org/rfc/rfc9457
 */
import { isStoreError } from "./store/types.js";
import { classifyUpstreamError, type UpstreamFailure } from "./upstream/classify.js";

/** Envoy-style short flags for proxy-made outcomes, in logs, metrics and a response header. */
export type Flag = "UF" | "UT" | "UC" | "UE" | "UO" | "UH" | "LR" | "SD" | "DC" | "IE";

export const ORIGIN_HEADER = "payguard-origin";
export const FLAG_HEADER = "payguard-flag";

interface ProblemSpec {
  status: number;
  title: string;
  flag?: Flag;
}

/** Every code payguard can answer with. Stable: clients and dashboards key on them. */
export const PROBLEMS = {
  absolute_form_rejected: { status: 400, title: "Absolute-form request targets are not accepted: payguard is not an open proxy", flag: "LR" },
  connect_rejected: { status: 400, title: "CONNECT is not accepted: payguard is not an open proxy", flag: "LR" },
  invalid_request: { status: 400, title: "The request could not be parsed", flag: "LR" },
  path_rejected: { status: 400, title: "The request path has dot segments or encoded separators that could leave the upstream base path", flag: "LR" },
  headers_too_large: { status: 431, title: "The request headers exceed the server's limit", flag: "LR" },
  body_too_large: { status: 413, title: "The request body exceeds limits.maxBodySize", flag: "LR" },
  idempotency_key_missing: { status: 400, title: "This request requires an Idempotency-Key header", flag: "LR" },
  idempotency_key_invalid: { status: 400, title: "The Idempotency-Key must be 1-255 visible ASCII characters (bare or as a quoted string)", flag: "LR" },
  idempotency_key_reused: { status: 422, title: "This Idempotency-Key was already used with a different request", flag: "LR" },
  idempotency_key_in_use: { status: 409, title: "A request with this Idempotency-Key is still being processed; retry later", flag: "LR" },
  outcome_indeterminate: {
    status: 502,
    title: "An earlier request with this Idempotency-Key reached the gateway but its outcome is unknown; it will not be sent again",
    flag: "LR",
  },
  store_full: { status: 503, title: "The idempotency store is full; the request was not sent", flag: "LR" },
  store_unavailable: { status: 503, title: "The idempotency store is unavailable; the request was not sent", flag: "LR" },
  upstream_unreachable: { status: 502, title: "The gateway could not be reached; the request was not sent", flag: "UF" },
  upstream_reset: { status: 502, title: "The gateway connection failed after the request was sent", flag: "UC" },
  upstream_error: { status: 502, title: "The gateway call failed", flag: "UE" },
  upstream_timeout: { status: 504, title: "The gateway did not answer in time", flag: "UT" },
  client_disconnected: { status: 499, title: "The client closed the connection before the request was complete", flag: "DC" },
  overloaded: { status: 503, title: "Too many requests are waiting for the gateway; the request was not sent", flag: "UO" },
  circuit_open: { status: 503, title: "The gateway is failing; payguard stopped sending requests to it for now", flag: "UH" },
  shutting_down: { status: 503, title: "payguard is shutting down; the request was not sent", flag: "SD" },
  internal_error: { status: 500, title: "payguard failed internally", flag: "IE" },
  // The admin API (admin listener only).
  admin_unauthorized: { status: 401, title: "A valid admin bearer token is required" },
  admin_forbidden: { status: 403, title: "This admin action is not allowed by the configuration" },
  admin_invalid_request: { status: 400, title: "The admin request is invalid" },
  record_not_found: { status: 404, title: "No idempotency record with this id" },
  record_not_resolvable: { status: 409, title: "Only an indeterminate record can be resolved" },
} as const satisfies Record<string, ProblemSpec>;

export type ProblemCode = keyof typeof PROBLEMS;

/** A failure payguard answers itself. `isProxyError` survives duplicate module copies. */
export class ProxyError extends Error {
  readonly isProxyError = true;
  readonly status: number;
  readonly flag: Flag | undefined;
  constructor(
    readonly code: ProblemCode,
    readonly detail?: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(detail ?? PROBLEMS[code].title, options);
    this.name = "ProxyError";
    const spec: ProblemSpec = PROBLEMS[code];
    this.status = spec.status;
    this.flag = spec.flag;
  }
}

export function isProxyError(err: unknown): err is ProxyError {
  return typeof err === "object" && err !== null && (err as { isProxyError?: unknown }).isProxyError === true;
}

/** Maps any thrown value to a ProxyError: the single spot unknown errors are classified. */
export function toProxyError(err: unknown): ProxyError {
  if (isProxyError(err)) return err;
  if (isStoreError(err)) return new ProxyError(err.code, undefined, { "retry-after": "1" }, { cause: err });
  const upstream = classifyUpstreamError(err);
  if (upstream) return fromUpstreamFailure(upstream, err);
  return new ProxyError("internal_error", undefined, {}, { cause: err });
}

function fromUpstreamFailure(failure: UpstreamFailure, cause: unknown): ProxyError {
  switch (failure.kind) {
    case "connect":
      return new ProxyError("upstream_unreachable", undefined, {}, { cause });
    case "timeout":
      return new ProxyError("upstream_timeout", undefined, {}, { cause });
    case "reset":
      return new ProxyError("upstream_reset", undefined, {}, { cause });
    default:
      return new ProxyError("upstream_error", undefined, {}, { cause });
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  requestId?: string;
}

/** The problem document for an error. Never includes stack traces or request data. */
export function toProblem(err: ProxyError, requestId: string | undefined): Problem {
  return {
    type: `urn:payguard:problem:${err.code}`,
    title: PROBLEMS[err.code].title,
    status: err.status,
    code: err.code,
    ...(err.detail ? { detail: err.detail } : {}),
    ...(requestId ? { requestId } : {}),
  };
}

/** Status, headers and body of the HTTP answer for an error. */
export function problemResponse(err: ProxyError, requestId: string | undefined): { status: number; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = {
    "content-type": "application/problem+json",
    "cache-control": "no-store",
    [ORIGIN_HEADER]: "proxy",
    ...err.headers,
  };
  if (err.flag) headers[FLAG_HEADER] = err.flag;
  if (requestId) headers["x-request-id"] = requestId;
  return { status: err.status, headers, body: JSON.stringify(toProblem(err, requestId)) };
}
