/**
 * The scopes the cross-checks judge — the top level, then each `routes[i]` — each with the
 * values in force there and the path its problems are reported under. Pure.
 *
 * The checks run on a config that may not have parsed (so one pass reports every problem):
 * values are `unknown` and read leaf by leaf; a value that did not parse is whatever zod left.
 */

/** One place settings apply: the top level, or a route over it. */
export interface Scope {
  /** where its keys sit: [] for the top level, ["routes", i] for a route */
  readonly path: readonly PropertyKey[];
  readonly isRoute: boolean;
  /** the scope's own value at a path: a route's override (undefined when it sets none), or the top level's */
  own(...keys: string[]): unknown;
  /**
   * the value in force at a path: a route's own, else the top level's — mergeDefined's route
   * over the top level (../merge.ts), read leaf by leaf, so a route's section that did not
   * parse (null, a string) leaves the top level's values in force. Routes have no store
   * section: the top level's is in force everywhere.
   */
  value(...keys: string[]): unknown;
}

/** A problem a cross-check found in a scope; its path is under the scope's. */
export interface Problem {
  path: PropertyKey[];
  message: string;
}

/** The top level, then each route in order. */
export function* scopes(config: unknown): Generator<Scope> {
  const top = (...keys: string[]) => at(config, keys);
  yield { path: [], isRoute: false, own: top, value: top };
  const routes = top("routes");
  if (!Array.isArray(routes)) return;
  for (const [i, route] of routes.entries()) {
    const own = (...keys: string[]) => at(route, keys);
    yield { path: ["routes", i], isRoute: true, own, value: (...keys) => own(...keys) ?? top(...keys) };
  }
}

/** `value?.[k1]?.[k2]…`: undefined through anything that is not there. */
function at(value: unknown, keys: readonly string[]): unknown {
  return keys.reduce<unknown>((node, key) => (node as Record<string, unknown> | null | undefined)?.[key], value);
}
