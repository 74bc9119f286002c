/**
 * What every stage of the request pipeline shares: the dependencies handed to buildApp and
 * the typed per-request variables the stages set for each other.
 */
import type { Readable } from "node:stream";
import type { HttpBindings } from "@hono/node-server";
import type { RoutePolicy } from "../config/routes.js";
import type { Flag, ProxyError } from "../errors.js";
import type { Generation, Live } from "../generation.js";
import type { Settlements } from "../idempotency/settlements.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { ReadyStore } from "../store/shared/store.js";
import type { UpstreamResponse } from "../upstream/client.js";
import type { BodyLease } from "./body-budget.js";

/** Mutable process state: readiness for /readyz, draining while shutting down. */
export interface Lifecycle {
  ready: boolean;
  draining: boolean;
}

export interface AppDeps {
  /** the config generation for new requests (routes, policies, upstream); reloads swap it */
  live: Live;
  metrics: Metrics;
  logger: Logger;
  lifecycle: Lifecycle;
  store: ReadyStore;
  /** settlements this process owes (open keyed requests, answers the store has not taken) */
  settlements: Settlements;
  /** this replica's name in the outcome ledger: PAYGUARD_REPLICA, else the host name */
  replica: string;
}

/** An answer to write: the gateway's (streamed, or buffered once stored) or a replay. */
/** Sends the request once more, as it was sent (same bytes, same upstream key): for a background completion. */
export type Resend = (signal: AbortSignal) => Promise<UpstreamResponse>;

export interface Reply {
  status: number;
  headers: Record<string, string | string[]>;
  body: Readable | Buffer;
}

export interface RequestVars {
  requestId: string;
  /** the config generation this request runs under, from routing to its end */
  generation: Generation;
  route: RoutePolicy;
  /** the request path, normalised (normalize.ts), for matching and idempotency scope */
  path: string;
  /** the query string as sent, with its "?" ("" when none) */
  query: string;
  /** the buffered request body; undefined when the request has none */
  body: Buffer | undefined;
  /** the body's share of limits.maxBufferedBodyBytes (body-budget.ts); a completion retains it */
  bodyLease: BodyLease | undefined;
  /** upstream attempts made for this request */
  attempts: number;
  /** whether any attempt may have reached the gateway (decides release vs indeterminate) */
  maybeSent: boolean;
  /** the answer respond writes; unset when payguard answers with a problem */
  reply: Reply | undefined;
  /** the idempotency record id (scoped store key) of a keyed request, for the access log */
  record: string | undefined;
  /**
   * the idempotency key as the gateway sees it on every attempt, so its own dedupe covers
   * payguard's retries: in `header`, or (no header) inside the body forwarded byte for byte
   */
  upstreamKey: { value: string; header?: string } | undefined;
  /** sends this request once more exactly as first sent (a background completion's re-send); set by forward */
  resend: Resend | undefined;
  /** the gateway's own id for its answer (upstream.requestId), for the access line */
  gatewayRequestId: string | undefined;
  /** set when payguard answered (or broke off) the request itself */
  problem: ProxyError | undefined;
  /** set when a streamed response broke off after its headers were sent */
  streamFlag: Flag | undefined;
}

export type ProxyEnv = { Bindings: HttpBindings; Variables: RequestVars };
