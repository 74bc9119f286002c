/**
 * Config generations. A generation is one loaded config with everything derived from it:
 * for each gateway, the route table, the resilience policies and the upstream client. A request takes the
 * current generation once, when it is routed, and keeps it to its end, so a reload never
 * changes the policies of a request in flight. A reload builds the next generation and
 * swaps it in with one assignment.
 *
 * What a reload keeps: the upstream client (connection pool) when `upstream` is unchanged,
 * and each breaker, bulkhead and retry budget whose settings and `upstream.url` are
 * unchanged — an open circuit stays open across a reload that did not touch it.
 */
import { compileRoutes, type RouteTable } from "./config/routes.js";
import type { Config, GatewayConfig, GatewaySpec } from "./config/schema.js";
import { profileOf } from "./gateways/index.js";
import type { GatewayProfile } from "./gateways/profile.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics/registry.js";
import { buildResilience, type Resilience } from "./resilience/policy.js";
import { createUpstreamClient, type UpstreamClient } from "./upstream/client.js";

/** One gateway of a generation: everything a request routed to it needs, in one hop. */
export interface Gateway {
  readonly name: string;
  /** records are scoped by `name` (not for the one-gateway shorthand, whose keys predate names) */
  readonly scoped: boolean;
  /** the host names clients reach it by through interception (SNI) */
  readonly hosts: readonly string[];
  /** the whole config this gateway runs under (the top level with its overrides) */
  readonly config: GatewayConfig;
  readonly routes: RouteTable;
  readonly resilience: Resilience;
  readonly upstream: UpstreamClient;
  /** the gateway profile: the envelope of every answer payguard makes itself */
  readonly profile: GatewayProfile;
}

export interface Generation {
  readonly id: number;
  readonly config: Config;
  /** every gateway, in the file's order; the first is server.port's */
  readonly gateways: readonly Gateway[];
  /** the gateway a client reaches by this host name (interception), if any */
  gatewayForHost(host: string): Gateway | undefined;
  /** the gateway by name (its own listener's), the first for undefined (server.port); undefined for a name no longer served */
  gateway(name: string | undefined): Gateway | undefined;
  /** the first gateway's profile: for answers made before a request is routed */
  readonly profile: GatewayProfile;
  /** requests routed under this generation that have not finished */
  active: number;
}

export function buildGeneration(id: number, config: Config, deps: { metrics: Metrics; logger: Logger }, previous?: Generation): Generation {
  const gateways = config.gateways.map((spec) =>
    buildGateway(
      spec,
      deps,
      previous?.gateways.find((g) => g.name === spec.name),
    ),
  );
  const first = gateways[0] as Gateway;
  const byName = new Map(gateways.map((g) => [g.name, g]));
  const gatewayForHost = (host: string) => gateways.find((g) => g.hosts.includes(host.toLowerCase()));
  return { id, config, gateways, gatewayForHost, gateway: (name) => (name === undefined ? first : byName.get(name)), profile: first.profile, active: 0 };
}

/**
 * A gateway's routes, policies, pool and profile. Breakers, bulkheads and budgets describe the
 * gateway: kept while its URL is the same, even when only the pool settings changed. The pool
 * itself is kept only if nothing did.
 */
function buildGateway(spec: GatewaySpec, deps: { metrics: Metrics; logger: Logger }, previous: Gateway | undefined): Gateway {
  const { config } = spec;
  const routes = compileRoutes(config, spec.scoped ? `${spec.name}/` : "");
  const sameGateway = previous !== undefined && previous.config.upstream.url === config.upstream.url;
  const samePool = previous !== undefined && sameJson(previous.config.upstream, config.upstream);
  const owner = spec.scoped ? spec.name : undefined;
  return {
    name: spec.name,
    scoped: spec.scoped,
    hosts: spec.hosts,
    config,
    routes,
    resilience: buildResilience(routes, routes.fallback, deps, sameGateway ? previous.resilience : undefined, owner),
    upstream: samePool ? previous.upstream : createUpstreamClient(config.upstream, config.intercept.ca !== undefined),
    profile: profileOf(config.upstream.gateway),
  };
}

/**
 * The generation serving new requests, and the retired ones still finishing requests. A
 * retired generation's upstream client is closed once no generation with requests in
 * flight uses it.
 */
export class Live {
  #current: Generation;
  readonly #retired = new Set<Generation>();

  constructor(first: Generation) {
    this.#current = first;
  }

  get current(): Generation {
    return this.#current;
  }

  /** A request starts: it runs under the current generation until leave(). */
  enter(): Generation {
    const generation = this.#current;
    generation.active++;
    return generation;
  }

  /**
   * Work that outlives its request (a background completion) keeps the request's generation
   * — and its upstream client — until the returned function is called.
   */
  hold(generation: Generation): () => void {
    generation.active++;
    let held = true;
    return () => {
      if (held) this.leave(generation);
      held = false;
    };
  }

  leave(generation: Generation): void {
    generation.active--;
    if (generation.active === 0 && this.#retired.has(generation)) {
      this.#retired.delete(generation);
      for (const gateway of generation.gateways) this.#closeUnused(gateway.upstream);
    }
  }

  /** Makes `next` serve every request routed from now on. */
  swap(next: Generation): void {
    const old = this.#current;
    this.#current = next;
    if (old.active > 0) this.#retired.add(old);
    else for (const gateway of old.gateways) this.#closeUnused(gateway.upstream);
  }

  /** Every upstream client still open (for shutdown). */
  upstreams(): UpstreamClient[] {
    return [...new Set([this.#current, ...this.#retired].flatMap((g) => g.gateways.map((gateway) => gateway.upstream)))];
  }

  #closeUnused(upstream: UpstreamClient): void {
    if (this.upstreams().includes(upstream)) return;
    upstream.close().catch(() => {});
  }
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
