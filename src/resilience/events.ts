/**
 * What a route's policies report as they run. They never touch metrics: bind-metrics.ts
 * subscribes to these events, as it does to cockatiel's own (breaker state, bulkhead rejects).
 */
import { EventEmitter } from "cockatiel";
import type { UpstreamFailureKind } from "../upstream/classify.js";
import type { Suppressed } from "./classify.js";

/** One attempt ended: the gateway's status, or how it failed; `seconds` until headers or failure. */
export type AttemptEnded = { status: number; seconds: number } | { failure: UpstreamFailureKind; seconds: number; attemptTimeout: boolean };

export class RouteEvents {
  readonly attempt = new EventEmitter<AttemptEnded>();
  /** a retry is made, and why ("503", …, "completion" for a background re-send) */
  readonly retry = new EventEmitter<{ reason: string }>();
  /** a retryable-looking outcome was not retried, and why (the budget reports its own) */
  readonly suppressed = new EventEmitter<{ reason: Suppressed }>();
  /** a client request ran out of its total deadline */
  readonly totalTimeout = new EventEmitter<void>();
  /** a client request is done with the gateway, after this many attempts */
  readonly done = new EventEmitter<{ attempts: number }>();
}
