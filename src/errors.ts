/**
 * The one place where failures become HTTP answers. Everything payguard answers itself is an
 * RFC 9457 problem (application/problem+json) with a stable `code`, the request id as
 * `instance`, whether the same request may be sent again (`retryable`), and the
 * `Payguard-Origin: proxy` header so callers can tell it from a gateway response. Under a
 * gateway profile the same document also carries that gateway's own error envelope
 * (gateways/), so the gateway's SDK raises its own error type.
 * Upstream 4xx/5xx responses are not errors: they pass through untouched. What each thrown
 * value becomes is error-map.ts.
 * https://www.rfc-editor.org/rfc/rfc9457
 */
import { brandGuard } from "./brand.js";

/** Envoy-style short flags for proxy-made outcomes, in logs, metrics and a response header. */
export type Flag = "UF" | "UT" | "UC" | "UE" | "UO" | "UH" | "LR" | "SD" | "DC" | "IE";

export const ORIGIN_HEADER = "payguard-origin";
export const FLAG_HEADER = "payguard-flag";
/** `unknown` on every answer after which the payment may have happened: the same statement as the `outcome` member. */
export const OUTCOME_HEADER = "payguard-outcome";

/**
 * What an answer says about the payment its request asks for. "unknown": it may have
 * happened — do not tell the customer it failed, and do not pay again under a new key
 * (repeat this key, or reconcile). Answers that leave no doubt carry no `outcome` member.
 */
export type Outcome = "unknown";

interface ProblemSpec {
  status: number;
  title: string;
  flag?: Flag;
  /**
   * Whether the same request, sent again as it is, may succeed and cannot charge twice.
   * "if-resend-safe": the request may have reached the gateway; it depends on the request
   * (see {@link isRetryable}).
   */
  retryable: boolean | "if-resend-safe";
  /**
   * "unknown" when the answer itself says the key's payment may have happened, whoever sent
   * it (a repeat of an unknown outcome; a duplicate of a request still in flight). Any other
   * code says "unknown" when this request may have reached the gateway (see {@link outcomeOf}).
   */
  outcome?: Outcome;
}

/** Every code payguard can answer with. Stable: clients and dashboards key on them. */
export const PROBLEMS = {
  absolute_form_rejected: { status: 400, title: "Absolute-form request targets are not accepted: payguard is not an open proxy", flag: "LR", retryable: false },
  connect_rejected: { status: 400, title: "CONNECT is not accepted: payguard is not an open proxy", flag: "LR", retryable: false },
  connect_forbidden: {
    status: 403,
    title: "CONNECT is accepted only for a gateway's host name on port 443, or a host in intercept.passThrough",
    flag: "LR",
    retryable: false,
  },
  invalid_request: { status: 400, title: "The request could not be parsed", flag: "LR", retryable: false },
  path_rejected: {
    status: 400,
    title: "The request path has dot segments or encoded separators that could leave the upstream base path",
    flag: "LR",
    retryable: false,
  },
  headers_too_large: { status: 431, title: "The request headers exceed the server's limit", flag: "LR", retryable: false },
  body_too_large: { status: 413, title: "The request body exceeds limits.maxBodySize", flag: "LR", retryable: false },
  idempotency_key_missing: { status: 400, title: "This request requires an idempotency key", flag: "LR", retryable: false },
  idempotency_key_invalid: {
    status: 400,
    title: "The idempotency key must be visible ASCII characters, no longer than the gateway allows (idempotency.maxKeyLength), bare or as a quoted string",
    flag: "LR",
    retryable: false,
  },
  idempotency_scope_missing: {
    status: 400,
    title: "This request lacks a header its idempotency key is scoped by (idempotency.scope, requireScope)",
    flag: "LR",
    retryable: false,
  },
  idempotency_key_reused: { status: 422, title: "This Idempotency-Key was already used with a different request", flag: "LR", retryable: false },
  idempotency_key_in_use: {
    status: 409,
    title: "A request with this Idempotency-Key is still being processed; retry later",
    flag: "LR",
    retryable: true,
    outcome: "unknown",
  },
  outcome_indeterminate: {
    status: 502,
    title: "An earlier request with this Idempotency-Key reached the gateway but its outcome is unknown; it will not be sent again",
    flag: "LR",
    retryable: false,
    outcome: "unknown",
  },
  store_full: { status: 503, title: "The idempotency store is full; the request was not sent", flag: "LR", retryable: true },
  store_unavailable: { status: 503, title: "The idempotency store is unavailable; the request was not sent", flag: "LR", retryable: true },
  upstream_unreachable: { status: 502, title: "The gateway could not be reached; the request was not sent", flag: "UF", retryable: true },
  upstream_reset: { status: 502, title: "The gateway connection failed after the request was sent", flag: "UC", retryable: "if-resend-safe" },
  upstream_error: { status: 502, title: "The gateway call failed", flag: "UE", retryable: "if-resend-safe" },
  upstream_timeout: { status: 504, title: "The gateway did not answer in time", flag: "UT", retryable: "if-resend-safe" },
  client_disconnected: { status: 499, title: "The client closed the connection before the request was complete", flag: "DC", retryable: false },
  overloaded: { status: 503, title: "Too many requests are waiting for the gateway; the request was not sent", flag: "UO", retryable: true },
  circuit_open: { status: 503, title: "The gateway is failing; payguard stopped sending requests to it for now", flag: "UH", retryable: true },
  gateway_not_served: {
    status: 421,
    title: "This listener's gateway is not in the running config (a reload removed it; ports change at restart); the request was not sent",
    flag: "LR",
    retryable: false,
  },
  host_misdirected: {
    status: 421,
    title: "The Host header names a host that this connection's TLS name does not answer for; the request was not sent",
    flag: "LR",
    retryable: false,
  },
  shutting_down: { status: 503, title: "payguard is shutting down; the request was not sent", flag: "SD", retryable: true },
  internal_error: { status: 500, title: "payguard failed internally", flag: "IE", retryable: "if-resend-safe" },
  // The admin API (admin listener only).
  admin_unauthorized: { status: 401, title: "A valid admin bearer token is required", retryable: false },
  admin_forbidden: { status: 403, title: "This admin action is not allowed by the configuration", retryable: false },
  admin_invalid_request: { status: 400, title: "The admin request is invalid", retryable: false },
  record_not_found: { status: 404, title: "No idempotency record with this id", retryable: false },
  record_not_resolvable: { status: 409, title: "Only an indeterminate record can be resolved", retryable: false },
  ledger_not_kept: { status: 501, title: "This store keeps no outcome ledger (store.type sqlite or postgres does)", retryable: false },
  webhook_in_flight: { status: 409, title: "The event is being delivered now; re-deliver it once the attempt has ended", retryable: true },
  // The webhook listener (what a gateway's notification gets; nothing is stored).
  webhook_endpoint_unknown: { status: 404, title: "No webhook endpoint at this path", retryable: false },
  webhook_signature_missing: { status: 400, title: "The notification carries no signature", retryable: false },
  webhook_signature_invalid: { status: 400, title: "The notification's signature does not verify with this endpoint's secret", retryable: false },
  webhook_signature_stale: { status: 400, title: "The notification's signed timestamp is older than the scheme's tolerance", retryable: false },
  webhook_payload_invalid: { status: 400, title: "The notification is not an event this endpoint's scheme reads", retryable: false },
  webhook_too_large: { status: 413, title: "The notification exceeds webhooks.maxBodySize", retryable: false },
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

/** An error as a log line may show it: code (or name) and message; an upstream error's message never carries request data. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${(err as { code?: string }).code ?? err.name}: ${err.message}`;
  return String(err);
}

export const isProxyError = brandGuard<ProxyError>("isProxyError");

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  /** RFC 9457 §3.1.5: this occurrence, named by its request id */
  instance: string;
  /** the same request may be sent again as it is: it may succeed, and cannot charge twice */
  retryable: boolean;
  requestId: string;
  /** present when the payment may have happened (see {@link Outcome}) */
  outcome?: Outcome;
}

/** An answer payguard makes itself, as a gateway profile sees it. */
export interface Refusal {
  code: ProblemCode;
  status: number;
  title: string;
  detail: string | undefined;
  requestId: string;
  /** the same request, sent again as it is, may succeed and cannot charge twice */
  retryable: boolean;
  /** the payment may have happened: set on every such answer, first or repeat */
  outcome: Outcome | undefined;
}

/** What a gateway profile adds to the problem document: members beside the RFC 9457 ones, and headers. */
export interface Envelope {
  members: Record<string, unknown>;
  headers: Record<string, string>;
  /** the status to answer with instead of the problem's, where the SDK drops the body of that status */
  status?: number;
}

/** What an answer depends on beyond the error: the request, and the gateway's profile. */
export interface AnswerContext {
  requestId: string;
  /**
   * A re-send of this request cannot charge twice: nothing of it reached the gateway, or its
   * method is idempotent, or the gateway dedupes it by the upstream key it carried.
   */
  resendSafe: boolean;
  /**
   * This request may have reached the gateway and its method can make a payment (not GET,
   * HEAD or OPTIONS): whatever the error, the payment may have happened.
   */
  mayHaveHappened: boolean;
  /** the gateway profile (gateways/): wraps the document in the gateway's own envelope */
  profile: { envelope(refusal: Refusal): Envelope };
}

/**
 * `retryable` of an answer: fixed by its code (true for in flight, overloaded, breaker open,
 * store unavailable, nothing sent; false for a missing, invalid or reused key and an unknown
 * outcome), or, once the request may have reached the gateway, whether a re-send is safe.
 */
export function isRetryable(err: ProxyError, resendSafe: boolean): boolean {
  const retryable = PROBLEMS[err.code].retryable;
  return retryable === "if-resend-safe" ? resendSafe : retryable;
}

/** The answer's `outcome`: fixed by its code (a repeat of an unknown outcome, a duplicate in flight), else unknown once the request may have happened. */
export function outcomeOf(err: ProxyError, mayHaveHappened: boolean): Outcome | undefined {
  const spec: ProblemSpec = PROBLEMS[err.code];
  return spec.outcome ?? (mayHaveHappened ? "unknown" : undefined);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `urn:uuid:<id>` (RFC 9562 §4) for the generated ids; a client's own id that is no UUID keeps its text. */
export function instanceOf(requestId: string): string {
  return UUID.test(requestId) ? `urn:uuid:${requestId.toLowerCase()}` : `urn:payguard:request:${encodeURIComponent(requestId)}`;
}

/** The problem document for an error. Never includes stack traces or request data. */
export function toProblem(refusal: Refusal): Problem {
  return {
    type: `urn:payguard:problem:${refusal.code}`,
    title: refusal.title,
    status: refusal.status,
    code: refusal.code,
    ...(refusal.detail ? { detail: refusal.detail } : {}),
    instance: instanceOf(refusal.requestId),
    retryable: refusal.retryable,
    requestId: refusal.requestId,
    ...(refusal.outcome ? { outcome: refusal.outcome } : {}),
  };
}

/**
 * Status, headers and body of the HTTP answer for an error: the problem document, with the
 * profile's envelope members beside its own (they never share a name: the profile tests
 * check that every RFC 9457 member comes out unchanged). A profile may change the status
 * only, for an SDK that drops the body of the problem's own (the document says the same).
 */
export function problemResponse(err: ProxyError, ctx: AnswerContext): { status: number; headers: Record<string, string>; body: string } {
  const refusal: Refusal = {
    code: err.code,
    status: err.status,
    title: PROBLEMS[err.code].title,
    detail: err.detail,
    requestId: ctx.requestId,
    retryable: isRetryable(err, ctx.resendSafe),
    outcome: outcomeOf(err, ctx.mayHaveHappened),
  };
  const envelope = ctx.profile.envelope(refusal);
  const status = envelope.status ?? err.status;
  const headers: Record<string, string> = {
    "content-type": "application/problem+json",
    "cache-control": "no-store",
    ...envelope.headers,
    ...err.headers,
    [ORIGIN_HEADER]: "proxy",
    "x-request-id": ctx.requestId,
  };
  if (err.flag) headers[FLAG_HEADER] = err.flag;
  if (refusal.outcome) headers[OUTCOME_HEADER] = refusal.outcome;
  return { status, headers, body: JSON.stringify({ ...toProblem({ ...refusal, status }), ...envelope.members }) };
}
