/**
 * What the stages of the request pipeline share: the dependencies handed to buildApp, the
 * Reply the stages after the body hand back up the chain, and the shape of a stage's
 * environment. Each stage declares the variables it sets beside itself (`…Vars` in its own
 * file) and reads only those it names in its environment; env.ts puts them together.
 */
import type { Readable } from "node:stream";
import type { HttpBindings } from "@hono/node-server";
import type { Context } from "hono";
import type { Live } from "../generation.js";
import type { Settlements } from "../idempotency/settlements.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { ReadyStore } from "../store/shared/store.js";
import type { Span, Tracing } from "../tracing/types.js";
import type { UpstreamResponse } from "../upstream/client.js";

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
  /** OpenTelemetry traces (tracing.enabled); undefined when off, and then nothing of it is loaded */
  tracing?: Tracing | undefined;
}

/**
 * Sends the request once more, as it was sent (same bytes, same upstream key): for a
 * background completion, whose span is the attempt's parent.
 */
export type Resend = (signal: AbortSignal, parent: Span | undefined) => Promise<UpstreamResponse>;

/** An answer to write: the gateway's (streamed, or buffered once stored) or a replay. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[]>;
  body: Readable | Buffer;
  /** the gateway's own id for this answer (upstream.requestId), for the access line */
  gatewayRequestId?: string | undefined;
}

/** A stage's environment: Node's request and response, and the variables the stage reads or sets. */
export type StageEnv<V extends object> = { Bindings: HttpBindings; Variables: V };
export type StageContext<V extends object> = Context<StageEnv<V>>;

/** The last stage: returns the request's Reply, or throws to the error mapping. */
export type ReplyHandler<V extends object> = (c: StageContext<V>) => Promise<Reply>;

/** A stage between the body and the gateway: gets the Reply from `next()` and returns the one to write. */
export type ReplyStage<V extends object> = (c: StageContext<V>, next: () => Promise<Reply>) => Promise<Reply>;

/** `stage`, with `last` as its next: the Reply travels from `last` up through `stage`. */
export function chain<A extends object, B extends object>(stage: ReplyStage<A>, last: ReplyHandler<B>): ReplyHandler<A & B> {
  return (c) => stage(narrow<A>(c), () => last(narrow<B>(c)));
}

/**
 * A context that carries more variables serves a stage that names fewer: the stage reads and
 * sets only its own (hono's `use()` takes each middleware's environment on the same terms).
 */
export function narrow<V extends object>(c: Context): StageContext<V> {
  return c as StageContext<V>;
}
