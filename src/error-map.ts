/**
 * What each failure becomes: any thrown value mapped to a ProxyError (errors.ts) — payguard's
 * own refusals as they are, the store's failures, and the gateway call's failures by their
 * cause. The single spot unknown errors are classified.
 */
import { isProxyError, ProxyError } from "./errors.js";
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
