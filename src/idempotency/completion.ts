/**
 * Completion of unknown outcomes. When every attempt of a request sent with an upstream key
 * ended without an answer (timeouts, resets), the charge may exist at the gateway while the
 * client has been told nothing. The replica that owns the key keeps it in flight — its lease
 * renewed, so a repeat waits or gets 409 — and re-sends the same bytes with the same key in
 * the background until the gateway answers definitively; the gateway's own dedupe makes a
 * re-send return the first request's result. That answer is settled as a first answer would
 * be (stored; ledger state completed-in-background), so the client's repeat gets the replay.
 *
 * Bounds: capped exponential backoff with jitter (cockatiel's), every re-send under the
 * route's breaker, bulkhead and retry budget, for at most maxDuration; shutdown stops it.
 * What it could not complete is settled as the request would have been without it
 * (indeterminate: for a key the gateway sees, released, and a repeat re-drives it with the
 * same upstream key). The request itself — credentials, card data — lives only in the
 * round's closure, in this process's memory; it is never written anywhere.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { decorrelatedJitterGenerator, ExponentialBackoff, type IBackoff } from "cockatiel";
import { describeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { SettleDetail, Ticket } from "./engine.js";
import type { Settlement } from "./outcome.js";

export interface CompletionPolicy {
  /** how long the re-sends may go on; 0: never start */
  maxDuration: number;
  initialDelay: number;
  maxDelay: number;
}

/** What one re-send found: the key's settlement, or reason for another round (after at least minDelayMs). */
export type Round = { kind: "settle"; settlement: Settlement; detail: SettleDetail } | { kind: "again"; reason: string; minDelayMs?: number };

export interface Completion {
  ticket: Ticket;
  policy: CompletionPolicy;
  /** for the log line and the metric */
  route: string;
  requestId: string;
  record: string;
  /** attempts the request made before it was handed off */
  attempts: number;
  /** why those attempts ended without an answer */
  reason: string;
  /** re-sends the request once; `signal` aborts it (shutdown) */
  round(signal: AbortSignal): Promise<Round>;
}

export interface CompletionDeps {
  metrics: Metrics;
  logger: Logger;
  /** aborted when shutdown begins: the completion stops and settles what it has */
  closing: AbortSignal;
}

export type CompletionResult = "completed" | "released" | "indeterminate" | "gave_up" | "abandoned";

const RESULT_OF: Record<Settlement, CompletionResult> = { store: "completed", release: "released", indeterminate: "indeterminate" };

/** Re-sends until the gateway answers definitively, maxDuration passes or shutdown begins; then settles the key. */
export async function complete(deps: CompletionDeps, job: Completion): Promise<CompletionResult> {
  const started = Date.now();
  const deadline = started + job.policy.maxDuration;
  let backoff: IBackoff<unknown> = new ExponentialBackoff({
    initialDelay: job.policy.initialDelay,
    maxDelay: Math.max(job.policy.maxDelay, job.policy.initialDelay),
    generator: decorrelatedJitterGenerator as never,
  }).next();
  let rounds = 0;
  let last: { reason: string; minDelayMs?: number } = { reason: job.reason };

  while (!deps.closing.aborted) {
    const wait = Math.max(backoff.duration, last.minDelayMs ?? 0);
    if (Date.now() + wait >= deadline) break;
    await sleep(wait, undefined, { signal: deps.closing, ref: false }).catch(() => {});
    if (deps.closing.aborted) break;
    rounds++;
    const round = await job.round(deps.closing).catch((err: unknown): Round => ({ kind: "again", reason: describeError(err) }));
    if (round.kind === "settle") {
      await job.ticket.settle(round.settlement, { ...round.detail, attempts: job.attempts + rounds, background: true });
      return report(deps, job, RESULT_OF[round.settlement], { rounds, started, reason: round.detail.reason, detail: round.detail });
    }
    last = round;
    backoff = backoff.next(undefined);
  }
  const result = deps.closing.aborted ? "abandoned" : "gave_up";
  const reason = `${result === "abandoned" ? "shutdown stopped" : "maxDuration ended"} the background re-sends (${rounds}); last: ${last.reason}`;
  await job.ticket.settle("indeterminate", { reason, attempts: job.attempts + rounds });
  return report(deps, job, result, { rounds, started, reason });
}

/** The completion's metric and its log line: named fields only, like the access line. */
function report(
  deps: CompletionDeps,
  job: Completion,
  result: CompletionResult,
  facts: { rounds: number; started: number; reason: string | undefined; detail?: SettleDetail },
): CompletionResult {
  deps.metrics.completions.inc({ route: job.route, result });
  const line = {
    reqId: job.requestId,
    route: job.route,
    record: job.record,
    result,
    rounds: facts.rounds,
    attempts: job.attempts + facts.rounds,
    durationMs: Date.now() - facts.started,
    ...(facts.detail?.response ? { status: facts.detail.response.status } : {}),
    ...(facts.detail?.gatewayRequestId ? { gatewayRequestId: facts.detail.gatewayRequestId } : {}),
    ...(facts.reason ? { reason: facts.reason } : {}),
  };
  if (result === "completed" || result === "released") deps.logger.info(line, "completion");
  else deps.logger.warn(line, "completion");
  return result;
}
