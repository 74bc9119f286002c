import type { MiddlewareHandler } from "hono";
import { ProxyError } from "../errors.js";
import type { AppDeps, ProxyEnv } from "./context.js";

/**
 * payguard is not an open proxy: only origin-form targets ("/path?query") are accepted, so
 * no request can name another host. CONNECT never reaches here (see server.ts). More than
 * `limits.maxHeaders` header fields get 431 (Node's own cap would drop the extra ones
 * silently, so server.ts lifts it). While draining, new requests are refused before
 * anything is sent upstream.
 */
export function guard(deps: Pick<AppDeps, "lifecycle" | "live">): MiddlewareHandler<ProxyEnv> {
  return async function guard(c, next) {
    const { incoming } = c.env;
    const target = incoming.url ?? "";
    if (target[0] !== "/" || target.startsWith("//")) throw new ProxyError("absolute_form_rejected");
    const maxHeaders = deps.live.current.config.limits.maxHeaders;
    if (incoming.rawHeaders.length > 2 * maxHeaders)
      throw new ProxyError("headers_too_large", `more than ${maxHeaders} header fields`, { connection: "close" });
    if (deps.lifecycle.draining) throw new ProxyError("shutting_down", undefined, { connection: "close" });
    await next();
  };
}
