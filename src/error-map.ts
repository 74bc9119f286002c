/**
 * What each failure becomes: any thrown value mapped to a ProxyError (errors.ts) — payguard's
 * own refusals as they are, the store's failures, and the gateway call's failures by their
 * cause. The single spot unknown errors are classified.
 */
import { randomUUID } from "node:crypto";
import { isProxyError, ProxyError, problemResponse } from "./errors.js";
import { generic } from "./gateways/generic.js";
import { isStoreError } from "./store/types.js";
import { classifyUpstreamError, type UpstreamFailure } from "./upstream/classify.js";

/** Maps any thrown value to a ProxyError. */
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

/**
 * A thrown value as plain problem+json (no gateway envelope): what the listeners that answer
 * operators and gateway senders, not an SDK, give back (the admin API, the webhook listener).
 */
export function plainProblem(err: unknown): { problem: ProxyError; status: number; headers: Record<string, string>; body: string } {
  const problem = toProxyError(err);
  return { problem, ...problemResponse(problem, { requestId: randomUUID(), resendSafe: true, mayHaveHappened: false, profile: generic }) };
}
