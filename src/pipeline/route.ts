import type { MiddlewareHandler } from "hono";
import type { AppDeps, ProxyEnv } from "./context.js";
import { normalizePath } from "./normalize.js";

/**
 * Pins the request to the current config generation until it is done (a reload does not
 * touch it), and picks the route policy (first matching `routes[]` entry, else the
 * default) by the normalised path, so `/v1/%72efunds` cannot slip past the `/v1/refunds`
 * policy.
 */
export function route(deps: Pick<AppDeps, "live">): MiddlewareHandler<ProxyEnv> {
  return async function route(c, next) {
    const generation = deps.live.enter();
    try {
      const target = c.env.incoming.url ?? "/";
      const query = target.indexOf("?");
      const path = normalizePath(query === -1 ? target : target.slice(0, query));
      c.set("generation", generation);
      c.set("path", path);
      c.set("query", query === -1 ? "" : target.slice(query));
      c.set("route", generation.routes.match(c.req.method, path));
      await next();
    } finally {
      deps.live.leave(generation);
    }
  };
}
