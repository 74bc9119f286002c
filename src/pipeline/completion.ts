/**
 * Hands a request whose attempts ended without an answer to a background completion
 * (../idempotency/completion.ts), when it may: it was sent with an upstream key (the gateway
 * dedupes every re-send), the route's completion.maxDuration is not 0, and fewer than
 * completion.maxConcurrent completions run in this process. This file owns the HTTP side of
 * a re-send: read the gateway's answer and say what it means for the key.
 */
import { complete, type Round } from "../idempotency/completion.js";
import type { EngineDeps, Ticket } from "../idempotency/engine.js";
import { settleResend } from "../idempotency/outcome.js";
import { parseRetryAfter } from "../resilience/classify.js";
import { discardBody } from "../upstream/client.js";
import { toClientHeaders } from "../upstream/headers.js";
import { type AnswerFacts, bufferBody, headerValue, keptAnswer } from "./answer.js";
import type { BodyVars } from "./body.js";
import type { AppDeps, Resend, StageContext } from "./context.js";
import type { ForwardVars } from "./forward.js";
import type { ObserveVars } from "./observe.js";
import type { RequestIdVars } from "./request-id.js";
import type { RouteVars } from "./route.js";

/** What a completion reads of the request: its route, body, id and re-send. */
type Vars = RouteVars & BodyVars & RequestIdVars & ObserveVars & Pick<ForwardVars, "resend">;

/** The keyed request whose attempts ended without an answer. */
export interface Unanswered {
  /** the idempotency record id, for the log */
  record: string;
  /** whether the gateway dedupes every re-send (an upstream key travels with it) */
  gatewayDedupes: boolean;
  reason: string;
  attempts: number;
}

/** Starts a completion for the request's key and says true, or says false (the caller settles as before). */
export type StartCompletion = (c: StageContext<Vars>, ticket: Ticket, ended: Unanswered) => boolean;

export function completions(deps: EngineDeps & Pick<AppDeps, "live">): StartCompletion {
  let running = 0;
  return (c, ticket, { record, gatewayDedupes, ...ended }) => {
    const resend = c.get("resend");
    const policy = c.get("route").idempotency;
    const { maxDuration, maxConcurrent } = policy.completion;
    if (!resend || !gatewayDedupes || maxDuration === 0) return false;
    if (running >= maxConcurrent) {
      deps.metrics.completions.inc({ route: c.get("route").name, result: "refused" });
      return false;
    }
    running++;
    const release = deps.live.hold(c.get("generation"));
    // The re-sends hold the body: it stays counted against limits.maxBufferedBodyBytes.
    const unhold = c.get("bodyLease")?.retain();
    const facts: AnswerFacts = {
      requestIdRule: c.get("gateway").config.upstream.requestId,
      ledgerFields: deps.store.outcomes ? policy.ledger.fields : undefined,
    };
    // tracing on: a span under the request's (which may end first), parent of the re-sends
    const span = c.get("span")?.child("background completion", "internal", { "payguard.route": c.get("route").name });
    const job = {
      ticket: ticket.handOff(),
      policy: policy.completion,
      route: c.get("route").name,
      requestId: c.get("requestId"),
      record,
      ...ended,
      round: (signal: AbortSignal) => resendRound((s) => resend(s, span), signal, policy, facts),
    };
    deps.logger.info({ reqId: job.requestId, route: job.route, record: job.record, reason: ended.reason }, "completion: started");
    const done = complete({ metrics: deps.metrics, logger: deps.logger, closing: deps.settlements.closing }, job);
    // the span fails unless the gateway's answer settled the key (stored, or released as not processed)
    const traced = done.then(
      (result) => {
        span?.set({ "payguard.completion": result });
        span?.end(result === "completed" || result === "released" ? undefined : result);
      },
      (err: unknown) => {
        span?.end("error");
        throw err;
      },
    );
    const work = traced.finally(() => {
      running--;
      release();
      unhold?.();
    });
    deps.settlements.track(work).catch((err: unknown) => deps.logger.error({ reqId: job.requestId, err: String(err) }, "completion failed"));
    return true;
  };
}

type AnswerPolicy = Pick<RouteVars["route"]["idempotency"], "replay" | "notProcessed" | "maxResponseSize" | "completion">;

/** One re-send, and what its answer means: settle the key, or try again later. Throws when no answer came. */
async function resendRound(resend: (signal: AbortSignal) => ReturnType<Resend>, signal: AbortSignal, policy: AnswerPolicy, facts: AnswerFacts): Promise<Round> {
  const response = await resend(signal);
  const { status } = response;
  const settlement = settleResend(status, policy.replay, policy.notProcessed);
  if (settlement === "again") {
    discardBody(response.body);
    const asked = parseRetryAfter(headerValue(response.headers["retry-after"]), Date.now());
    return { kind: "again", reason: `gateway answered ${status}`, minDelayMs: Math.min(asked ?? 0, policy.completion.maxDelay) };
  }
  const buffered = await bufferBody(response.body, policy.maxResponseSize);
  if (!buffered.whole) {
    discardBody(response.body);
    return { kind: "settle", settlement: "indeterminate", detail: { reason: `response larger than maxResponseSize (${policy.maxResponseSize} bytes)` } };
  }
  const answer = keptAnswer({ status, headers: toClientHeaders(response.headers) }, buffered.body, facts);
  return { kind: "settle", settlement, detail: { ...answer, reason: `gateway answered ${status}` } };
}
