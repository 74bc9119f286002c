/**
 * Classifies an upstream call failure: what went wrong, and whether the request may have
 * reached the gateway. Pure: no I/O. Whether bytes were sent decides what is safe to retry
 * and whether a payment's outcome is indeterminate (docs/semantics.md#resilience, "The safety
 * rule for POST"; docs/semantics.md#idempotency, "How each outcome settles the key").
 */

export type UpstreamFailureKind = "connect" | "timeout" | "reset" | "other";

export interface UpstreamFailure {
  kind: UpstreamFailureKind;
  /** false only when the gateway cannot have seen any byte of the request. */
  maybeSent: boolean;
  /** The underlying error code, for logs. */
  code: string;
}

/** The reason payguard aborts an attempt with when its deadline passes. */
export class UpstreamTimeoutError extends Error {
  readonly code = "PAYGUARD_UPSTREAM_TIMEOUT";
  constructor(
    readonly timeoutMs: number,
    /** which deadline passed: the attempt's, or the request's total */
    readonly limit: "attempt" | "total" = "attempt",
  ) {
    super(`upstream did not answer within ${timeoutMs}ms`);
    this.name = "UpstreamTimeoutError";
  }
}

/** Failures before a connection existed: nothing was written, always safe to retry. */
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  // DNS failures of the resolver that ignores /etc/hosts (upstream/resolve.ts)
  "ENODATA",
  "ESERVFAIL",
  "EREFUSED",
  "ETIMEOUT",
  // the loop guard: the gateway resolved to one of payguard's own listeners
  "ELOOP_PAYGUARD",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const TIMEOUT_CODES = new Set(["PAYGUARD_UPSTREAM_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "ECONNABORTED"]);

/** undefined when the error did not come from the upstream call. */
export function classifyUpstreamError(err: unknown): UpstreamFailure | undefined {
  const code = errorCode(err);
  if (code === undefined) return undefined;
  if (CONNECT_CODES.has(code)) return { kind: "connect", maybeSent: false, code };
  if (TIMEOUT_CODES.has(code)) return { kind: "timeout", maybeSent: true, code };
  if (RESET_CODES.has(code)) return { kind: "reset", maybeSent: true, code };
  if (code.startsWith("UND_ERR")) return { kind: "other", maybeSent: true, code };
  return undefined;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return code;
  // undici wraps socket errors; the cause carries the system code.
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err ? errorCode(cause) : undefined;
}
