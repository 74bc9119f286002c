import { Readable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { compileRoutes } from "../../src/config/routes.js";
import { createLogger } from "../../src/log.js";
import { createMetrics } from "../../src/metrics/registry.js";
import { RetryBudget, RetryBudgetPolicy } from "../../src/resilience/budget.js";
import { type AttemptOutcome, decideRetry, parseRetryAfter, verdictOn } from "../../src/resilience/classify.js";
import { Deadline } from "../../src/resilience/deadline.js";
import { buildResilience, DeadlineBackoff, newTally, type SendAttempt } from "../../src/resilience/policy.js";
import { wantsRetry } from "../../src/resilience/verdict.js";
import type { UpstreamResponse } from "../../src/upstream/client.js";
import { sample } from "../support/metrics.js";
import { until } from "../support/until.js";

const retryConfig = parseConfig("upstream: { url: http://gw }", {}).resilience.retry;
const now = Date.UTC(2026, 10, 24, 12, 0, 0);
const facts = (over: Partial<Parameters<typeof decideRetry>[1]> = {}) => ({ method: "POST", keyed: true, remainingMs: 10_000, now, ...over });
const response = (status: number, headers: Record<string, string> = {}): AttemptOutcome => ({ kind: "response", status, headers });
const failure = (kind: "connect" | "timeout" | "reset" | "other", maybeSent: boolean): AttemptOutcome => ({
  kind: "failure",
  failure: { kind, maybeSent, code: "X" },
});

describe("Retry-After parsing", () => {
  it("reads delay-seconds and HTTP-dates", () => {
    expect(parseRetryAfter("1", now)).toBe(1000);
    expect(parseRetryAfter(" 120 ", now)).toBe(120_000);
    expect(parseRetryAfter(new Date(now + 2000).toUTCString(), now)).toBe(2000);
    expect(parseRetryAfter(new Date(now - 5000).toUTCString(), now)).toBe(0);
  });
  it.each([undefined, "", "soon", "-1", "1.5"])("ignores %j", (v) => expect(parseRetryAfter(v, now)).toBeUndefined());
});

describe("the retry decision", () => {
  it("retries a POST on a listed condition only when keyed, or when nothing was sent", () => {
    expect(decideRetry(response(503), facts(), retryConfig)).toMatchObject({ retry: true, reason: "503" });
    expect(decideRetry(response(503), facts({ keyed: false }), retryConfig)).toEqual({ retry: false, suppressed: "unsafe", reason: "503" });
    expect(decideRetry(failure("timeout", true), facts({ keyed: false }), retryConfig)).toMatchObject({ retry: false, suppressed: "unsafe" });
    expect(decideRetry(failure("reset", true), facts({ keyed: false, method: "PATCH" }), retryConfig)).toMatchObject({ retry: false, suppressed: "unsafe" });
    expect(decideRetry(failure("connect", false), facts({ keyed: false }), retryConfig)).toMatchObject({ retry: true, reason: "connect-error" });
  });

  it("retries idempotent methods on listed conditions without a key", () => {
    for (const method of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]) {
      expect(decideRetry(failure("timeout", true), facts({ method, keyed: false }), retryConfig)).toMatchObject({ retry: true, reason: "attempt-timeout" });
    }
  });

  it("does not retry unlisted statuses or unclassified failures", () => {
    for (const status of [400, 402, 404, 409, 500]) expect(decideRetry(response(status), facts(), retryConfig)).toEqual({ retry: false });
    expect(decideRetry(failure("other", true), facts(), retryConfig)).toEqual({ retry: false });
  });

  it("obeys the gateway's retry hint headers both ways (retry.hints), the first one present deciding", () => {
    const hinted = { ...retryConfig, hints: ["stripe-should-retry", "transient-error"] };
    expect(decideRetry(response(503, { "stripe-should-retry": "false" }), facts(), hinted)).toMatchObject({ retry: false, suppressed: "gateway_hint" });
    expect(decideRetry(response(409, { "stripe-should-retry": "true" }), facts(), hinted)).toMatchObject({ retry: true, reason: "409" });
    expect(decideRetry(response(409, { "transient-error": "True" }), facts(), hinted)).toMatchObject({ retry: true, reason: "409" });
    expect(decideRetry(response(503, { "stripe-should-retry": "false", "transient-error": "true" }), facts(), hinted)).toMatchObject({ retry: false });
    expect(decideRetry(response(409, { "stripe-should-retry": "true" }), facts({ keyed: false }), hinted)).toMatchObject({
      retry: false,
      suppressed: "unsafe",
    });
  });

  it("ignores hint headers the route does not list (the generic profile lists none)", () => {
    expect(retryConfig.hints).toEqual([]);
    expect(decideRetry(response(503, { "stripe-should-retry": "false" }), facts(), retryConfig)).toMatchObject({ retry: true, reason: "503" });
    expect(decideRetry(response(409, { "stripe-should-retry": "true" }), facts(), retryConfig)).toEqual({ retry: false });
  });

  it("honours Retry-After up to its max and the deadline, else passes the answer through", () => {
    expect(decideRetry(response(429, { "retry-after": "2" }), facts(), retryConfig)).toEqual({ retry: true, reason: "429", minDelayMs: 2000 });
    expect(decideRetry(response(429, { "retry-after": "11" }), facts(), retryConfig)).toMatchObject({ retry: false, suppressed: "retry_after" });
    expect(decideRetry(response(503, { "retry-after": "5" }), facts({ remainingMs: 4000 }), retryConfig)).toMatchObject({
      retry: false,
      suppressed: "retry_after",
    });
    expect(decideRetry(response(429, { "retry-after": "120" }), facts(), { ...retryConfig, retryAfter: { honor: false, max: 0 } })).toMatchObject({
      retry: true,
      minDelayMs: 0,
    });
    expect(decideRetry(response(503), facts({ remainingMs: 0 }), retryConfig)).toMatchObject({ retry: false, suppressed: "deadline" });
  });
});

describe("retry budget", () => {
  it("allows ratio × requests plus the floor over the window, then refuses", () => {
    let t = 1_000_000;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 1, window: 5000, now: () => t });
    for (let i = 0; i < 100; i++) budget.recordRequest();
    let granted = 0;
    while (budget.tryAcquire()) granted++;
    expect(granted).toBe(0.2 * 100 + 1 * 5);
    // Once the window has slid past those requests, only the floor remains.
    t += 6000;
    granted = 0;
    while (budget.tryAcquire()) granted++;
    expect(granted).toBe(5);
    expect(budget.totals()).toEqual({ requests: 0, retries: 5 });
  });
});

describe("backoff", () => {
  afterEach(() => void vi.useRealTimers());
  const contextWith = (minDelayMs: number, deadline: number) => ({ result: { value: { ctx: { minDelayMs, deadline } } } });

  it("grows exponentially without jitter, capped at backoff.max", () => {
    const b = new DeadlineBackoff({ type: "exponential", initial: 100, max: 1000, jitter: "none" });
    const far = contextWith(0, Date.now() + 60_000);
    const durations: number[] = [];
    let step = b.next(far);
    for (let i = 0; i < 6; i++) {
      durations.push(step.duration);
      step = step.next(far);
    }
    expect(durations).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it("jitters (decorrelated) within bounds", () => {
    const b = new DeadlineBackoff({ type: "exponential", initial: 100, max: 2000, jitter: "decorrelated" });
    const far = contextWith(0, Date.now() + 60_000);
    const firsts = Array.from({ length: 50 }, () => b.next(far).duration);
    expect(new Set(firsts.map(Math.round)).size).toBeGreaterThan(10);
    for (const d of firsts) expect(d).toBeGreaterThanOrEqual(0);
    let step = b.next(far);
    for (let i = 0; i < 20; i++) step = step.next(far);
    expect(step.duration).toBeLessThanOrEqual(2000);
  });

  it("waits at least the Retry-After, and never past the deadline (fake clock)", () => {
    vi.useFakeTimers({ now });
    const b = new DeadlineBackoff({ type: "exponential", initial: 100, max: 1000, jitter: "none" });
    expect(b.next(contextWith(3000, now + 60_000)).duration).toBe(3000);
    expect(b.next(contextWith(3000, now + 1200)).duration).toBe(1200);
    expect(b.next(contextWith(0, now + 50)).duration).toBe(50);
    expect(b.next(contextWith(0, now - 10)).duration).toBe(0);
  });
});

describe("gateway hints on a success", () => {
  it("never re-send a 2xx, whatever its hint header says (review finding)", () => {
    const hinted = { ...retryConfig, hints: ["stripe-should-retry"] };
    expect(decideRetry(response(200, { "stripe-should-retry": "true" }), facts(), hinted)).toEqual({ retry: false });
    expect(decideRetry(response(201, { "stripe-should-retry": "true" }), facts(), hinted)).toEqual({ retry: false });
  });
});

describe("the verdict's pure parts", () => {
  it("the attempt cap: a retry the decision wants is suppressed once retry.maxAttempts attempts were made", () => {
    const capped = { ...retryConfig, maxAttempts: 3 };
    expect(verdictOn(response(503), facts(), 2, capped)).toMatchObject({ retry: true, reason: "503" });
    expect(verdictOn(response(503), facts(), 3, capped)).toEqual({ retry: false, suppressed: "exhausted", reason: "503" });
    // What the decision refuses keeps its own reason, whatever the count.
    expect(verdictOn(response(503), facts({ keyed: false }), 3, capped)).toEqual({ retry: false, suppressed: "unsafe", reason: "503" });
  });

  it("the retry predicate only reads the verdict an outcome carries", () => {
    expect(wantsRetry({ verdict: { retry: true, reason: "503", minDelayMs: 0 }, ctx: undefined })).toBe(true);
    expect(wantsRetry({ verdict: { retry: false, suppressed: "budget" }, ctx: undefined })).toBe(false);
    expect(wantsRetry(new Error("circuit open"))).toBe(false);
    expect(wantsRetry(undefined)).toBe(false);
  });

  it("the budget pays for the retries a verdict wants until it is spent, then suppresses them and says so", () => {
    const policy = new RetryBudgetPolicy(new RetryBudget({ ratio: 0, minPerSecond: 1, window: 2000, now: () => 5_000_000 }));
    let spent = 0;
    policy.onSpent(() => spent++);
    const wanted = { retry: true as const, reason: "503", minDelayMs: 0 };
    expect(policy.grant(wanted)).toBe(wanted);
    expect(policy.grant(wanted)).toBe(wanted);
    expect(policy.grant(wanted)).toEqual({ retry: false, suppressed: "budget", reason: "503" });
    expect(spent).toBe(1);
    // A verdict that wants no retry costs nothing and is not reported.
    expect(policy.grant({ retry: false })).toEqual({ retry: false });
    expect(spent).toBe(1);
    expect(() => policy.take()).toThrow("retry budget spent");
    expect(spent).toBe(2);
  });

  it("a backoff that runs into the deadline spends it: no attempt may start after it", () => {
    const backoff = new DeadlineBackoff({ type: "exponential", initial: 100, max: 1000, jitter: "none" });
    const far = Deadline.after(60_000);
    expect(backoff.next({ result: { value: { ctx: far.timing(0) } } }).duration).toBe(100);
    expect(far.closed).toBe(false);
    const near = Deadline.after(50);
    expect(backoff.next({ result: { value: { ctx: near.timing(0) } } }).duration).toBeLessThanOrEqual(50);
    expect(near.closed).toBe(true);
  });
});

describe("composition order: total deadline → bulkhead → retry → verdict → breaker → attempt timeout", () => {
  const GET = { method: "GET", keyed: false };
  const answer = (status: number): UpstreamResponse => ({ status, headers: {}, body: Readable.from([]) });
  function route(resilience: string) {
    const routes = compileRoutes(parseConfig(`upstream: { url: http://gw }\nresilience: ${resilience}`, {}));
    const metrics = createMetrics({ defaultMetrics: false });
    const logger = createLogger("silent", { write: () => {} });
    return { policies: buildResilience(routes, routes.fallback, { metrics, logger }).forRoute(routes.fallback), metrics };
  }
  /** A gateway scripted per attempt; `sent` counts the attempts that reached it. */
  function gateway(...script: SendAttempt[]) {
    const gw = {
      sent: 0,
      send: (signal: AbortSignal) => (script[gw.sent++] ?? script[script.length - 1] ?? (() => Promise.reject(new Error("no script"))))(signal),
    };
    return gw;
  }
  const answers = (status: number) => async () => answer(status);

  it("the total deadline outside the bulkhead: it ends a request's wait for a slot, before any attempt", async () => {
    const { policies, metrics } = route("{ timeout: { attempt: 300ms, total: 300ms }, bulkhead: { maxConcurrent: 1, maxQueue: 1 } }");
    let release = (_: UpstreamResponse) => {};
    // The first request holds the only slot: its gateway ignores the abort and answers only when released.
    const holder = gateway(() => new Promise<UpstreamResponse>((resolve) => (release = resolve)));
    const first = policies.execute(GET, holder.send, newTally());
    await until(() => holder.sent === 1, "the first request holds the slot");
    // Released anyway after 2 s, so that a queue the deadline did not bound fails the test rather than hangs it.
    let released = false;
    const fallback = setTimeout(() => {
      released = true;
      release(answer(200));
    }, 2000);
    const queued = gateway(answers(200));
    const tally = newTally();
    await expect(policies.execute(GET, queued.send, tally)).rejects.toMatchObject({ name: "UpstreamTimeoutError", limit: "total" });
    expect(released, "the queued request was refused while the slot was still held").toBe(false);
    expect(queued.sent).toBe(0);
    expect(tally.attempts).toBe(0);
    expect(sample(await metrics.registry.metrics(), "payguard_timeouts_total", { route: "default", kind: "total" })).toBe(1);
    clearTimeout(fallback);
    release(answer(200));
    expect((await first).status).toBe(200);
  });

  it("the bulkhead outside the retry: a request keeps its one slot through its backoff", async () => {
    const { policies, metrics } = route(
      "{ retry: { maxAttempts: 2, backoff: { initial: 300ms, jitter: none } }, bulkhead: { maxConcurrent: 1, maxQueue: 0 } }",
    );
    const retried = gateway(answers(503), answers(200));
    const first = policies.execute(GET, retried.send, newTally());
    await until(
      async () => sample(await metrics.registry.metrics(), "payguard_retries_total", { route: "default", reason: "503" }) === 1,
      "the first request waits in its backoff",
    );
    const other = gateway(answers(200));
    await expect(policies.execute(GET, other.send, newTally())).rejects.toMatchObject({ code: "overloaded" });
    expect(other.sent).toBe(0);
    expect((await first).status).toBe(200);
    expect(retried.sent).toBe(2);
  });

  it("the retry outside the breaker: the breaker counts each attempt, and its opening stops the retries", async () => {
    const { policies } = route("{ retry: { maxAttempts: 5, backoff: { initial: 1ms, jitter: none } }, breaker: { threshold: 2 } }");
    const failing = gateway(answers(503));
    const tally = newTally();
    await expect(policies.execute(GET, failing.send, tally)).rejects.toMatchObject({ code: "circuit_open" });
    expect(failing.sent).toBe(2);
    expect(tally.attempts).toBe(2);
  });

  it("the attempt timeout innermost: it ends one try, and the retry goes on", async () => {
    const { policies, metrics } = route("{ timeout: { attempt: 100ms, total: 10s }, retry: { backoff: { initial: 1ms, jitter: none } } }");
    const hanging: SendAttempt = (signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
    const slowThenFine = gateway(hanging, answers(200));
    const tally = newTally();
    expect((await policies.execute(GET, slowThenFine.send, tally)).status).toBe(200);
    expect(tally.attempts).toBe(2);
    const text = await metrics.registry.metrics();
    expect(sample(text, "payguard_timeouts_total", { route: "default", kind: "attempt" })).toBe(1);
    expect(sample(text, "payguard_retries_total", { route: "default", reason: "attempt-timeout" })).toBe(1);
  });
});
