/**
 * Per-route policies, resolved once at load time: each `routes[]` entry overrides the
 * top-level sections key by key; a request takes the first route whose methods and path
 * match, or the default route. Path patterns use hono's syntax: `/v1/charges`,
 * `/v1/charges/:id`, `/v1/*`.
 */
import { PatternRouter } from "hono/router/pattern-router";
import { mergeDefined } from "./merge.js";
import type { GatewayConfig, IdempotencyConfig, ResilienceConfig } from "./schema.js";

export interface RoutePolicy {
  /** Metrics/log label: the route's `name`, `route-<index>`, or `default`. */
  readonly name: string;
  /** the route's path pattern (`/v1/charges/:id`); none for the default route */
  readonly path?: string;
  readonly resilience: ResilienceConfig;
  readonly idempotency: IdempotencyConfig;
  /** whether a (normalised) path is in `idempotency.exempt`: never keyed */
  exempt(path: string): boolean;
}

export interface RouteTable {
  match(method: string, path: string): RoutePolicy;
  readonly routes: readonly RoutePolicy[];
  /** the top-level settings, for requests no route matches */
  readonly fallback: RoutePolicy;
}

/**
 * `label` prefixes every route's name (`stripe/` for a named gateway, so two gateways' routes
 * never share a label); the one-gateway shorthand has none.
 */
export function compileRoutes(config: GatewayConfig, label = ""): RouteTable {
  const fallback: RoutePolicy = {
    name: `${label}default`,
    resilience: config.resilience,
    idempotency: config.idempotency,
    exempt: pathMatcher(config.idempotency.exempt),
  };
  const router = new PatternRouter<number>();
  const routes = config.routes.map((route, index): RoutePolicy => {
    for (const method of route.methods ?? ["ALL"]) router.add(method, route.path, index);
    const idempotency = mergeDefined(config.idempotency, route.idempotency);
    return {
      name: label + (route.name ?? `route-${index}`),
      path: route.path,
      resilience: mergeDefined(config.resilience, route.resilience),
      idempotency,
      exempt: pathMatcher(idempotency.exempt),
    };
  });
  return {
    routes,
    fallback,
    match(method, path) {
      if (routes.length === 0) return fallback;
      const [matches] = router.match(method, path);
      // PatternRouter reports matches in registration order: the first is the first rule.
      const first = matches[0];
      return first ? (routes[first[0]] ?? fallback) : fallback;
    },
  };
}

/** Whether a path matches any of the patterns (the routes' syntax). */
function pathMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  const router = new PatternRouter<true>();
  for (const pattern of patterns) router.add("ALL", pattern, true);
  return (path) => router.match("ALL", path)[0].length > 0;
}
