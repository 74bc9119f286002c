import type { MiddlewareHandler } from "hono";
import type { AppDeps, ProxyEnv } from "./context.js";
import { normalizePath } from "./normalize.js";
import { splitTarget } from "./target.js";

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
      const target = splitTarget(c.env.incoming.url ?? "/");
      const path = normalizePath(target.path);
      c.set("generation", generation);
      c.set("path", path);
      c.set("query", target.query);
      c.set("route", generation.routes.match(c.req.method, path));
      await next();
    } finally {
      deps.live.leave(generation);
    }
  };
}
