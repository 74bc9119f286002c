/**
 * Per-route policies, resolved once at load time: each `routes[]` entry overrides the
 * top-level sections; a request takes the first route whose methods and path match, or the
 * default route. Path patterns use hono's syntax: `/v1/charges`, `/v1/charges/:id`, `/v1/*`.
 */
import { PatternRouter } from "hono/router/pattern-router";
import type { Config, ResilienceConfig } from "./schema.js";

export interface RoutePolicy {
  /** Metrics/log label: the route's `name`, `route-<index>`, or `default`. */
  readonly name: string;
  readonly resilience: ResilienceConfig;
}

export interface RouteTable {
  match(method: string, path: string): RoutePolicy;
  readonly routes: readonly RoutePolicy[];
}

export function compileRoutes(config: Config): RouteTable {
  const fallback: RoutePolicy = { name: "default", resilience: config.resilience };
  const router = new PatternRouter<number>();
  const routes = config.routes.map((route, index): RoutePolicy => {
    for (const method of route.methods ?? ["ALL"]) router.add(method, route.path, index);
    return {
      name: route.name ?? `route-${index}`,
      resilience: {
        ...config.resilience,
        timeout: { ...config.resilience.timeout, ...stripUndefined(route.resilience?.timeout ?? {}) },
      },
    };
  });
  return {
    routes,
    match(method, path) {
      if (routes.length === 0) return fallback;
      const [matches] = router.match(method, path);
      // PatternRouter reports matches in registration order: the first is the first rule.
      const first = matches[0];
      return first ? (routes[first[0]] ?? fallback) : fallback;
    },
  };
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}
