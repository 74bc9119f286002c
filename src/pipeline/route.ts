import type { IncomingMessage } from "node:http";
import type { MiddlewareHandler } from "hono";
import type { RoutePolicy } from "../config/routes.js";
import { ProxyError } from "../errors.js";
import type { Gateway, Generation } from "../generation.js";
import { listenerGateway } from "../listeners.js";
import type { AppDeps, StageEnv } from "./context.js";
import { normalizePath } from "./normalize.js";
import { splitTarget } from "./target.js";

/** Set here, for the stages after routing. */
export interface RouteVars {
  /** the config generation this request runs under, from routing to its end */
  generation: Generation;
  /** the gateway this request goes to (its listener's port), with its routes, policies and pool */
  gateway: Gateway;
  route: RoutePolicy;
  /** the request path, normalised (normalize.ts), for matching and idempotency scope */
  path: string;
  /** the query string as sent, with its "?" ("" when none) */
  query: string;
}

/**
 * Pins the request to the current config generation until it is done (a reload does not
 * touch it), picks the gateway (the one whose listener the request came in on; server.port
 * serves the first) and the route policy (first matching `routes[]` entry, else the
 * default) by the normalised path, so `/v1/%72efunds` cannot slip past the `/v1/refunds`
 * policy.
 */
export function route(deps: Pick<AppDeps, "live">): MiddlewareHandler<StageEnv<RouteVars>> {
  return async function route(c, next) {
    const generation = deps.live.enter();
    try {
      const target = splitTarget(c.env.incoming.url ?? "/");
      const path = normalizePath(target.path);
      c.set("generation", generation);
      c.set("path", path);
      c.set("query", target.query);
      const gateway = servedGateway(generation, c.env.incoming);
      c.set("gateway", gateway);
      c.set("route", gateway.routes.match(c.req.method, path));
      await next();
    } finally {
      deps.live.leave(generation);
    }
  };
}

/**
 * The gateway of the connection's listener. On an intercepted connection (the gateway picked
 * by the TLS name) the Host header must name one of that gateway's hosts: a request for
 * another host on that connection is misdirected (RFC 9110 §15.5.20), not re-routed.
 */
function servedGateway(generation: Generation, incoming: IncomingMessage): Gateway {
  const tag = listenerGateway(incoming.socket);
  const gateway = generation.gateway(tag?.gateway);
  if (!gateway) throw new ProxyError("gateway_not_served");
  if (tag?.byName && !gateway.hosts.includes(hostName(incoming.headers.host))) throw new ProxyError("host_misdirected");
  return gateway;
}

/** The host of a Host header, lower-cased, without its port. */
function hostName(host: string | undefined): string {
  return (host ?? "").replace(/:\d+$/, "").toLowerCase();
}
