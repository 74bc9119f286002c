/**
 * The resilience policies of one route, composed once from cockatiel. Order, outermost first:
 *
 *   total deadline → bulkhead → retry → verdict (retry budget) → circuit breaker → attempt timeout → upstream call
 *
 * - total deadline outermost: it bounds everything the client waits for — the wait for a
 *   bulkhead slot, every attempt and every backoff. One Deadline per request (deadline.ts),
 *   handed to the bulkhead and the retry as their execute context's signal: the attempts and
 *   the backoff stop at it themselves, and a request that must queue for a slot is raced
 *   against it, since cockatiel's queue never looks at the signal while it waits.
 * - bulkhead outside retry: a request holds one slot for all its attempts, so retries can
 *   never multiply the concurrency sent to a struggling gateway.
 * - retry outside the breaker: every attempt is seen (and counted) by the breaker, and an
 *   open circuit stops the retries at once.
 * - the verdict between them: each attempt's outcome is judged once, as it ends (safety,
 *   conditions, deadline, Retry-After, attempts left, then the budget); the retry's predicate
 *   and the backoff only read it (verdict.ts).
 * - attempt timeout innermost: it bounds exactly one try; its abort cancels the undici
 *   request, whose socket is then destroyed, never reused.
 *
 * What cockatiel lacks is ours: the safety rule, Retry-After, the gateway's retry hints
 * (Stripe-Should-Retry, Transient-Error) and the deadline (classify.ts), and the retry budget
 * (budget.ts). The policies emit events; bind-metrics.ts turns them into metrics.
 * test/unit/resilience.test.ts, "composition order", shows each step of the order above.
 */
import { type BulkheadPolicy, bulkhead, handleWhen, retry } from "cockatiel";
import type { RoutePolicy, RouteTable } from "../config/routes.js";
import type { ResilienceConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { discardBody, type UpstreamResponse } from "../upstream/client.js";
import { isTotalTimeout, localAnswer } from "./answer.js";
import { type AttemptTally, attemptUnder, newTally, type SendAttempt } from "./attempt.js";
import { DeadlineBackoff } from "./backoff.js";
import { bindBreaker, bindBulkhead, bindRoute } from "./bind-metrics.js";
import { type Breaker, makeBreaker } from "./breaker.js";
import { RetryBudget, RetryBudgetPolicy } from "./budget.js";
import { inSlot } from "./bulkhead.js";
import { Deadline } from "./deadline.js";
import { RouteEvents } from "./events.js";
import { SharedInstances } from "./instances.js";
import { isJudgedAnswer, judging, type RequestFacts, retryReason, wantsRetry } from "./verdict.js";

export { type AttemptTally, newTally, type SendAttempt } from "./attempt.js";
/** The backoff, where the unit tests have always found it. */
export { DeadlineBackoff } from "./backoff.js";
export type { RequestFacts } from "./verdict.js";

export interface RouteResilience {
  /** Sends a client request through the route's policies; `tally` counts its attempts, even when it throws. */
  execute(request: RequestFacts, send: SendAttempt, tally: AttemptTally): Promise<UpstreamResponse>;
  /**
   * One background re-send of a request whose attempts ended without an answer (completion):
   * a retry as far as the budget is concerned, under the bulkhead, the breaker and the
   * attempt timeout; no retries of its own. `signal` aborts it (shutdown).
   */
  resend(send: SendAttempt, signal: AbortSignal): Promise<UpstreamResponse>;
}

export interface Resilience {
  forRoute(route: RoutePolicy): RouteResilience;
  /** breakers, bulkheads and budgets by kind and settings: a reload keeps the unchanged ones */
  readonly instances: ReadonlyMap<string, unknown>;
}

/**
 * Builds every route's policies. With `previous` (a reload, same upstream), the breakers,
 * bulkheads and budgets whose settings did not change are taken over (instances.ts).
 */
export function buildResilience(
  table: RouteTable,
  fallback: RoutePolicy,
  deps: { metrics: Metrics; logger: Logger },
  previous?: Resilience,
  gatewayOwner?: string,
): Resilience {
  const shared = new SharedInstances(fallback, previous?.instances, gatewayOwner);
  const compiled = new Map<string, RouteResilience>();
  for (const route of [fallback, ...table.routes]) compiled.set(route.name, routePolicies(route, shared, deps.metrics));
  return {
    instances: shared.all,
    forRoute: (route) => compiled.get(route.name) ?? (compiled.get(fallback.name) as RouteResilience),
  };
}

/** A route's parts, its own or the upstream's, each bound to the metrics once, when made. */
function routePolicies(route: RoutePolicy, shared: SharedInstances, metrics: Metrics): RouteResilience {
  const r = route.resilience;
  const breaker = shared.get("breaker", route, (owner) => boundBreaker(owner, r.breaker, metrics));
  const bulk = shared.get("bulkhead", route, (owner) => boundBulkhead(owner, r.bulkhead, metrics));
  const budget = new RetryBudgetPolicy(shared.get("budget", route, () => new RetryBudget(r.retry.budget)));
  const events = new RouteEvents();
  bindRoute(route.name, events, budget, metrics);
  return compose(r, { breaker, bulk, budget, events });
}

function boundBreaker(name: string, config: ResilienceConfig["breaker"], metrics: Metrics): Breaker {
  const breaker = makeBreaker(config);
  bindBreaker(name, breaker.policy, metrics);
  return breaker;
}

function boundBulkhead(name: string, config: ResilienceConfig["bulkhead"], metrics: Metrics): BulkheadPolicy {
  const policy = bulkhead(config.maxConcurrent, config.maxQueue);
  bindBulkhead(name, policy, config, metrics);
  return policy;
}

interface RouteParts {
  breaker: Breaker;
  bulk: BulkheadPolicy;
  budget: RetryBudgetPolicy;
  events: RouteEvents;
}

/** One route's policies, in the order the header names. */
function compose(config: ResilienceConfig, { breaker, bulk, budget, events }: RouteParts): RouteResilience {
  const retries = retry(handleWhen(wantsRetry).orWhenResult(wantsRetry), {
    maxAttempts: config.retry.maxAttempts - 1,
    backoff: new DeadlineBackoff(config.retry.backoff),
  });
  retries.onRetry((event) => {
    const outcome = "value" in event ? event.value : event.error;
    // The answer we retry past is discarded: free its connection.
    if (isJudgedAnswer(outcome)) discardBody(outcome.response.body);
    events.retry.emit({ reason: retryReason(outcome) });
  });
  const attempt = attemptUnder(config.timeout, events);
  const judged = judging(config.retry, budget, events);
  const answer = (err: unknown) => localAnswer(err, breaker, config.timeout.total);

  return {
    async execute(request, send, tally) {
      budget.deposit();
      const deadline = Deadline.after(config.timeout.total);
      try {
        // deadline → bulkhead → retry → verdict → breaker → attempt timeout
        const outcome = await inSlot(bulk, deadline, ({ signal }) =>
          retries.execute(({ attempt: n }) => judged(() => breaker.policy.execute(() => attempt(send, deadline, tally)), request, deadline, n + 1), signal),
        );
        return outcome.response;
      } catch (err) {
        const local = answer(err);
        if (isTotalTimeout(local)) events.totalTimeout.emit();
        throw local;
      } finally {
        events.done.emit({ attempts: tally.attempts });
      }
    },
    async resend(send, signal) {
      budget.take();
      events.retry.emit({ reason: "completion" });
      // Bounded by the attempt timeout; the bulkhead queue is not raced (it never was).
      const deadline = Deadline.within(config.timeout.attempt, signal);
      try {
        return await bulk.execute(() => breaker.policy.execute(() => attempt(send, deadline, newTally())), signal);
      } catch (err) {
        throw answer(err);
      }
    },
  };
}
