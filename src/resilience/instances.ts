/**
 * The breakers, bulkheads and retry budgets of one config generation. They describe the
 * gateway, so they are per upstream, shared by all routes; a route that overrides one gets its
 * own. A reload (same upstream) takes over every instance whose settings did not change, with
 * its state: an open circuit stays open.
 */
import type { RoutePolicy } from "../config/routes.js";
import type { ResilienceConfig } from "../config/schema.js";

/** The config section each kind of instance is made from. */
const SECTION = {
  breaker: (r: ResilienceConfig) => r.breaker,
  bulkhead: (r: ResilienceConfig) => r.bulkhead,
  budget: (r: ResilienceConfig) => r.retry.budget,
};

export class SharedInstances {
  /** by kind, owner and settings */
  readonly all = new Map<string, unknown>();

  constructor(
    private readonly fallback: RoutePolicy,
    private readonly previous: ReadonlyMap<string, unknown> | undefined,
    /** the name of the instances the whole gateway shares: "upstream", or a named gateway's name */
    private readonly gatewayOwner = "upstream",
  ) {}

  /**
   * Routes whose settings for a section equal the top level's share the upstream's
   * instance; a route with its own settings gets its own, even when another route's are
   * equal (their failures and slots are theirs). `make` gets the owner's name.
   */
  get<T>(kind: keyof typeof SECTION, route: RoutePolicy, make: (owner: string) => T): T {
    const section = SECTION[kind];
    const settings = JSON.stringify(section(route.resilience));
    const owner = route === this.fallback || settings === JSON.stringify(section(this.fallback.resilience)) ? this.gatewayOwner : route.name;
    const key = `${kind}:${owner}:${settings}`;
    let instance = this.all.get(key) as T | undefined;
    if (instance === undefined) {
      instance = (this.previous?.get(key) as T | undefined) ?? make(owner);
      this.all.set(key, instance);
    }
    return instance;
  }
}
