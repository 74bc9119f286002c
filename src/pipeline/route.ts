import type { MiddlewareHandler } from "hono";
import type { AppDeps, ProxyEnv } from "./context.js";

/** Picks the route policy (first matching `routes[]` entry, else the default). */
export function route(deps: Pick<AppDeps, "routes">): MiddlewareHandler<ProxyEnv> {
  return async function route(c, next) {
    const target = c.env.incoming.url ?? "/";
    const query = target.indexOf("?");
    c.set("route", deps.routes.match(c.req.method, query === -1 ? target : target.slice(0, query)));
    await next();
  };
}
