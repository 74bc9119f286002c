/**
 * The resilience policies of one route, composed once from cockatiel. Order, outermost first:
 *
 *   total timeout → bulkhead → retry → circuit breaker → attempt timeout → upstream call
 *
 * - total timeout outermost: it bounds everything the client waits for — queueing in the
 *   bulkhead, every attempt and every backoff.
 * - bulkhead outside retry: a request holds one slot for all its attempts, so retries can
 *   never multiply the concurrency sent to a struggling gateway.
 * - retry outside the breaker: every attempt is seen (and counted) by the breaker, and an
 *   open circuit stops the retries at once.
 * - attempt timeout innermost: it bounds exactly one try; its abort cancels the undici
 *   request, whose socket is then destroyed, never reused.
 *
 * What cockatiel lacks is ours: the safety rule, Retry-After, the gateway's retry hints
 * (Stripe-Should-Retry, Transient-Error) and the deadline (resilience/classify.ts), and the retry budget (resilience/budget.ts).
 */
import {
  type BulkheadPolicy,
  bulkhead,
  type CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  fullJitterGenerator,
  handleWhen,
  type IBackoff,
  type IBackoffFactory,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  noJitterGenerator,
  type RetryPolicy,
  retry,
  SamplingBreaker,
  type TimeoutPolicy,
  TimeoutStrategy,
  timeout,
} from "cockatiel";
import type { RoutePolicy, RouteTable } from "../config/routes.js";
import type { ResilienceConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { Logger } from "../log.js";
import { type Metrics, statusClass } from "../metrics/registry.js";
import { classifyUpstreamError, type UpstreamFailure, UpstreamTimeoutError } from "../upstream/classify.js";
import { discardBody, type UpstreamResponse } from "../upstream/client.js";
import { RetryBudget } from "./budget.js";
import { type AttemptOutcome, decideRetry } from "./classify.js";

/** Per-request state, threaded through the policies inside results and errors. */
export interface AttemptContext {
  readonly method: string;
  /** an upstream idempotency key goes with every attempt */
  readonly keyed: boolean;
  /** epoch ms of the total deadline */
  readonly deadline: number;
  attempts: number;
  /** attempts that may have reached the gateway: counted at the start, uncounted when a failure proves otherwise */
  maybeSent: number;
  /** the delay the next retry must at least wait (Retry-After) */
  minDelayMs: number;
  /** what triggered the pending retry */
  reason: string | undefined;
  /** the pending retry's backoff runs into the deadline: it must not start (set by the backoff) */
  backoffToDeadline: boolean;
}

export function newAttemptContext(method: string, keyed: boolean, totalMs: number): AttemptContext {
  return { method, keyed, deadline: Date.now() + totalMs, attempts: 0, maybeSent: 0, minDelayMs: 0, reason: undefined, backoffToDeadline: false };
}

/** Sends one attempt; the signal is the attempt's own (attempt timeout, total deadline). */
export type SendAttempt = (signal: AbortSignal) => Promise<UpstreamResponse>;

export interface RouteResilience {
  execute(ctx: AttemptContext, send: SendAttempt): Promise<UpstreamResponse>;
  /**
   * One background re-send of a request whose attempts ended without an answer (completion):
   * a retry as far as the budget is concerned, under the bulkhead, the breaker and the
   * attempt timeout; no retries of its own. `signal` aborts it (shutdown).
   */
  resend(ctx: AttemptContext, send: SendAttempt, signal: AbortSignal): Promise<UpstreamResponse>;
}

/** A background re-send found the retry budget spent: it waits for the next round. */
export class RetryBudgetSpent extends Error {
  constructor() {
    super("retry budget spent");
  }
}

/** A successful attempt (any status) carrying its request's context to the predicates. */
interface Attempt {
  ctx: AttemptContext;
  response: UpstreamResponse;
}

/** A failed attempt carrying its request's context and what went wrong. */
class AttemptError extends Error {
  constructor(
    readonly ctx: AttemptContext,
    override readonly cause: unknown,
    readonly failure: UpstreamFailure,
  ) {
    super(failure.code);
  }
}

const BREAKER_STATE = { [CircuitState.Closed]: 0, [CircuitState.Open]: 1, [CircuitState.HalfOpen]: 2, [CircuitState.Isolated]: 1 } as const;
const BREAKER_NAME = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "isolated",
};

export interface Resilience {
  forRoute(route: RoutePolicy): RouteResilience;
  /** breakers, bulkheads and budgets by kind and settings: a reload keeps the unchanged ones */
  readonly instances: ReadonlyMap<string, unknown>;
}

/**
 * Builds every route's policies. Breakers, bulkheads and budgets are per upstream, shared by
 * all routes; a route that overrides one gets its own. With `previous` (a reload, same
 * upstream), an instance whose settings did not change is taken over with its state.
 */
export function buildResilience(table: RouteTable, fallback: RoutePolicy, deps: { metrics: Metrics; logger: Logger }, previous?: Resilience): Resilience {
  const instances = new Map<string, unknown>();
  /**
   * Routes whose settings for a section equal the top level's share the upstream's
   * instance; a route with its own settings gets its own, even when another route's are
   * equal (their failures and slots are theirs).
   */
  const shared = <T>(kind: string, section: (r: ResilienceConfig) => unknown, route: RoutePolicy, make: (name: string) => T): T => {
    const settings = JSON.stringify(section(route.resilience));
    const owner = route === fallback || settings === JSON.stringify(section(fallback.resilience)) ? "upstream" : route.name;
    const key = `${kind}:${owner}:${settings}`;
    let instance = instances.get(key) as T | undefined;
    if (instance === undefined) {
      instance = (previous?.instances.get(key) as T | undefined) ?? make(owner);
      instances.set(key, instance);
    }
    return instance;
  };

  const compiled = new Map<string, RouteResilience>();
  for (const route of [fallback, ...table.routes]) {
    const r = route.resilience;
    const breaker = shared(
      "breaker",
      (s) => s.breaker,
      route,
      (name) => makeBreaker(name, r.breaker, deps.metrics),
    );
    const bulk = shared(
      "bulkhead",
      (s) => s.bulkhead,
      route,
      (name) => makeBulkhead(name, r.bulkhead, deps.metrics),
    );
    const budget = shared(
      "budget",
      (s) => s.retry.budget,
      route,
      () => new RetryBudget(r.retry.budget),
    );
    compiled.set(route.name, compose(route.name, r, breaker, bulk, budget, deps));
  }
  return {
    instances,
    forRoute: (route) => compiled.get(route.name) ?? (compiled.get(fallback.name) as RouteResilience),
  };
}

interface Breaker {
  policy: CircuitBreakerPolicy;
  /** seconds until the open circuit lets a probe through */
  retryAfterSeconds(): number;
}

function makeBreaker(name: string, config: ResilienceConfig["breaker"], metrics: Metrics): Breaker {
  const failure = handleWhen((err) => err instanceof AttemptError && err.failure.kind !== "other").orWhenResult((r) => (r as Attempt).response.status >= 500);
  const policy = circuitBreaker(failure, {
    halfOpenAfter: config.halfOpenAfter,
    breaker:
      config.type === "consecutive"
        ? new ConsecutiveBreaker(config.threshold)
        : new SamplingBreaker({
            threshold: config.sampling.failureRate,
            duration: config.sampling.window,
            minimumRps: config.sampling.minRequests / (config.sampling.window / 1000),
          }),
  });
  let openedAt = 0;
  metrics.breakerState.set({ breaker: name }, 0);
  policy.onStateChange((state) => {
    if (state === CircuitState.Open) openedAt = Date.now();
    metrics.breakerState.set({ breaker: name }, BREAKER_STATE[state]);
    metrics.breakerTransitions.inc({ breaker: name, to: BREAKER_NAME[state] });
  });
  return {
    policy,
    retryAfterSeconds: () => Math.max(1, Math.ceil((config.halfOpenAfter - (Date.now() - openedAt)) / 1000)),
  };
}

function makeBulkhead(name: string, config: ResilienceConfig["bulkhead"], metrics: Metrics): BulkheadPolicy {
  const policy = bulkhead(config.maxConcurrent, config.maxQueue);
  metrics.observeBulkhead(name, () => ({ active: config.maxConcurrent - policy.executionSlots, queued: config.maxQueue - policy.queueSlots }));
  policy.onReject(() => metrics.bulkheadRejections.inc({ bulkhead: name }));
  return policy;
}

function compose(
  route: string,
  config: ResilienceConfig,
  breaker: Breaker,
  bulk: BulkheadPolicy,
  budget: RetryBudget,
  deps: { metrics: Metrics; logger: Logger },
): RouteResilience {
  const { metrics } = deps;
  const total: TimeoutPolicy = timeout(config.timeout.total, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });

  /** The retry predicate: safety, conditions, deadline, Retry-After, attempts left, budget. */
  const shouldRetry = (ctx: AttemptContext, outcome: AttemptOutcome): boolean => {
    const now = Date.now();
    const decision = decideRetry(outcome, { method: ctx.method, keyed: ctx.keyed, remainingMs: ctx.deadline - now, now }, config.retry);
    if (!decision.retry) {
      if (decision.suppressed) metrics.retriesSuppressed.inc({ route, reason: decision.suppressed });
      return false;
    }
    if (ctx.attempts >= config.retry.maxAttempts) {
      metrics.retriesSuppressed.inc({ route, reason: "exhausted" });
      return false;
    }
    if (!budget.tryAcquire()) {
      metrics.retriesSuppressed.inc({ route, reason: "budget" });
      return false;
    }
    ctx.minDelayMs = decision.minDelayMs;
    ctx.reason = decision.reason;
    return true;
  };
  const retryWhen = handleWhen((err) => err instanceof AttemptError && shouldRetry(err.ctx, { kind: "failure", failure: err.failure })).orWhenResult((r) => {
    const { ctx, response } = r as Attempt;
    return shouldRetry(ctx, { kind: "response", status: response.status, headers: response.headers });
  });
  const retries: RetryPolicy = retry(retryWhen, { maxAttempts: config.retry.maxAttempts - 1, backoff: new DeadlineBackoff(config.retry.backoff) });
  retries.onRetry((event) => {
    if ("value" in event) {
      // The answer we retry past is discarded: free its connection.
      discardBody((event.value as Attempt).response.body);
    }
    const ctx = "value" in event ? (event.value as Attempt).ctx : (event.error as AttemptError).ctx;
    metrics.retries.inc({ route, reason: ctx.reason ?? "unknown" });
  });

  const attempt = attemptUnderDeadline(route, config, metrics);
  // The total deadline of a request that finds a free bulkhead slot is held by its attempts'
  // own timers, the backoff (DeadlineBackoff) and the check before each attempt: no timer of
  // its own. Only a request that must queue for a slot is raced against it (cockatiel's
  // aggressive timeout), since the bulkhead queue itself has no clock.
  const run = (ctx: AttemptContext, send: SendAttempt, queued?: AbortSignal) =>
    bulk.execute(() => retries.execute(() => breaker.policy.execute(() => attempt(ctx, send, queued)), queued), queued);

  return {
    async execute(ctx, send) {
      budget.recordRequest();
      try {
        const result = bulk.executionSlots > 0 ? await run(ctx, send) : await total.execute(({ signal }) => run(ctx, send, signal));
        return result.response;
      } catch (err) {
        const answer = localAnswer(err, breaker, config);
        if (answer instanceof UpstreamTimeoutError && answer.limit === "total") metrics.timeouts.inc({ route, kind: "total" });
        throw answer;
      } finally {
        metrics.attemptsPerRequest.observe({ route }, ctx.attempts);
      }
    },
    async resend(ctx, send, signal) {
      if (!budget.tryAcquire()) {
        metrics.retriesSuppressed.inc({ route, reason: "budget" });
        throw new RetryBudgetSpent();
      }
      metrics.retries.inc({ route, reason: "completion" });
      try {
        const result = await bulk.execute(() => breaker.policy.execute(() => attempt(ctx, send, signal)), signal);
        return result.response;
      } catch (err) {
        throw localAnswer(err, breaker, config);
      }
    },
  };
}

/**
 * One attempt, bounded by the attempt timeout or by what is left of the total deadline,
 * whichever ends first: one timer and one AbortController, cleared once the headers are in
 * (the body has undici's bodyTimeout). cockatiel's timeout policy costs two of each per
 * request, with their events. `outer` (a queued request's total timeout, a background
 * re-send's shutdown) aborts it too. Its abort cancels the undici request, whose socket is
 * then destroyed, never reused.
 */
function attemptUnderDeadline(route: string, config: ResilienceConfig, metrics: Metrics) {
  const totalTimeout = () => new UpstreamTimeoutError(config.timeout.total, "total");
  return async (ctx: AttemptContext, send: SendAttempt, outer?: AbortSignal): Promise<Attempt> => {
    const remaining = ctx.deadline - Date.now();
    // A retry whose backoff ran into the deadline must not start (a timer may fire a little
    // before the wall clock says the deadline is here). kind "other": not a gateway failure
    // (the breaker must not count it), not retryable.
    if (remaining <= 0 || ctx.backoffToDeadline || outer?.aborted)
      throw new AttemptError(ctx, totalTimeout(), { kind: "other", maybeSent: false, code: "PAYGUARD_TOTAL_TIMEOUT" });
    ctx.attempts += 1;
    ctx.maybeSent += 1;
    const byTotal = remaining < config.timeout.attempt;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), byTotal ? remaining : config.timeout.attempt);
    const onOuter = () => deadline.abort();
    outer?.addEventListener("abort", onOuter, { once: true });
    const started = performance.now();
    try {
      const response = await send(deadline.signal);
      metrics.upstreamAttemptDuration.observe({ route, outcome: statusClass(response.status) }, (performance.now() - started) / 1000);
      return { ctx, response };
    } catch (err) {
      const failure = attemptFailure(err, deadline.signal.aborted ? (byTotal || outer?.aborted ? "total" : "attempt") : undefined);
      if (failure.limit === "attempt") metrics.timeouts.inc({ route, kind: "attempt" });
      if (!failure.maybeSent) ctx.maybeSent -= 1;
      metrics.upstreamAttemptDuration.observe({ route, outcome: failure.kind }, (performance.now() - started) / 1000);
      throw new AttemptError(ctx, failure.cause ?? err, failure);
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuter);
    }
  };

  /**
   * What a failed attempt was. Cut by the total deadline: kind "other" (not the gateway's
   * fault alone: the breaker does not count it; not retried, nothing is left of the deadline).
   */
  function attemptFailure(err: unknown, cutBy: "attempt" | "total" | undefined): UpstreamFailure & { cause?: unknown; limit?: "attempt" | "total" } {
    if (cutBy === "total") return { kind: "other", maybeSent: true, code: "PAYGUARD_TOTAL_TIMEOUT", cause: totalTimeout(), limit: "total" };
    const cause = cutBy === "attempt" ? new UpstreamTimeoutError(config.timeout.attempt, "attempt") : err;
    const failure = classifyUpstreamError(cause) ?? { kind: "other" as const, maybeSent: true, code: (cause as Error)?.name ?? "unknown" };
    return { ...failure, cause, ...(cutBy ? { limit: cutBy } : {}) };
  }
}

/** Maps what the policies threw to what the client gets; upstream failures keep their cause. */
function localAnswer(err: unknown, breaker: Breaker, config: ResilienceConfig): unknown {
  if (err instanceof AttemptError) return err.cause;
  if (isBrokenCircuitError(err)) return new ProxyError("circuit_open", undefined, { "retry-after": String(breaker.retryAfterSeconds()) }, { cause: err });
  if (isBulkheadRejectedError(err)) return new ProxyError("overloaded", undefined, { "retry-after": "1" }, { cause: err });
  if (isTaskCancelled(err)) return new UpstreamTimeoutError(config.timeout.total, "total");
  return err;
}

/**
 * cockatiel 3.2.1's own isTaskCancelledError tests for the bulkhead's marker property and so
 * never matches; test the TaskCancelledError marker directly.
 */
function isTaskCancelled(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { isTaskCancelledError?: unknown }).isTaskCancelledError === true;
}

/**
 * Exponential backoff with jitter (cockatiel), stretched to a Retry-After the gateway asked
 * for, and never past the request's total deadline.
 */
export class DeadlineBackoff implements IBackoffFactory<unknown> {
  private readonly exponential: IBackoffFactory<unknown>;
  constructor(config: ResilienceConfig["retry"]["backoff"]) {
    const generator = config.jitter === "decorrelated" ? decorrelatedJitterGenerator : config.jitter === "full" ? fullJitterGenerator : noJitterGenerator;
    this.exponential = new ExponentialBackoff({ initialDelay: config.initial, maxDelay: config.max, generator: generator as never });
  }
  next(context: unknown): IBackoff<unknown> {
    return step(this.exponential.next(context), context);
  }
}

function step(inner: IBackoff<unknown>, context: unknown): IBackoff<unknown> {
  const result = (context as { result?: { value?: Attempt; error?: unknown } }).result;
  const ctx = result?.value?.ctx ?? (result?.error instanceof AttemptError ? result.error.ctx : undefined);
  const wanted = Math.max(inner.duration, ctx?.minDelayMs ?? 0);
  const remaining = ctx ? ctx.deadline - Date.now() : Number.POSITIVE_INFINITY;
  if (ctx && wanted >= remaining) ctx.backoffToDeadline = true;
  const duration = ctx ? Math.max(0, Math.min(wanted, remaining)) : wanted;
  return { duration, next: (next: unknown) => step(inner.next(next), next) };
}
