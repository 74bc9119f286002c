/**
 * What every stage of the request pipeline shares: the dependencies handed to buildApp and
 * the typed per-request variables the stages set for each other.
 */
import type { HttpBindings } from "@hono/node-server";
import type { RoutePolicy, RouteTable } from "../config/routes.js";
import type { Config } from "../config/schema.js";
import type { Flag, ProxyError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { UpstreamClient } from "../upstream/client.js";

/** Mutable process state: readiness for /readyz, draining while shutting down. */
export interface Lifecycle {
  ready: boolean;
  draining: boolean;
}

export interface AppDeps {
  config: Config;
  routes: RouteTable;
  upstream: UpstreamClient;
  metrics: Metrics;
  logger: Logger;
  lifecycle: Lifecycle;
}

export interface RequestVars {
  requestId: string;
  route: RoutePolicy;
  /** the buffered request body; undefined when the request has none */
  body: Buffer | undefined;
  /** upstream attempts made for this request */
  attempts: number;
  /** set when the gateway's response was streamed straight to the client */
  upstreamStatus: number | undefined;
  /** set when payguard answered (or broke off) the request itself */
  problem: ProxyError | undefined;
  /** set when a streamed response broke off after its headers were sent */
  streamFlag: Flag | undefined;
}

export type ProxyEnv = { Bindings: HttpBindings; Variables: RequestVars };
