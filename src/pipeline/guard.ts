import type { MiddlewareHandler } from "hono";
import { ProxyError } from "../errors.js";
import type { AppDeps, ProxyEnv } from "./context.js";

/**
 * payguard is not an open proxy: only origin-form targets ("/path?query") are accepted, so
 * no request can name another host. CONNECT never reaches here (see server.ts). While
 * draining, new requests are refused before anything is sent upstream.
 */
export function guard(deps: Pick<AppDeps, "lifecycle">): MiddlewareHandler<ProxyEnv> {
  return async function guard(c, next) {
    const target = c.env.incoming.url ?? "";
    if (target[0] !== "/" || target.startsWith("//")) throw new ProxyError("absolute_form_rejected");
    if (deps.lifecycle.draining) throw new ProxyError("shutting_down", undefined, { connection: "close" });
    await next();
  };
}
