import type { MiddlewareHandler } from "hono";
import type { AppDeps, ProxyEnv } from "./context.js";
import { normalizePath } from "./normalize.js";

/**
 * Picks the route policy (first matching `routes[]` entry, else the default) by the
 * normalised path, so `/v1/%72efunds` cannot slip past the `/v1/refunds` policy.
 */
export function route(deps: Pick<AppDeps, "routes">): MiddlewareHandler<ProxyEnv> {
  return async function route(c, next) {
    const target = c.env.incoming.url ?? "/";
    const query = target.indexOf("?");
    const path = normalizePath(query === -1 ? target : target.slice(0, query));
    c.set("path", path);
    c.set("query", query === -1 ? "" : target.slice(query));
    c.set("route", deps.routes.match(c.req.method, path));
    await next();
  };
}
