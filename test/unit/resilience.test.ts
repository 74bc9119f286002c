import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { RetryBudget } from "../../src/resilience/budget.js";
import { type AttemptOutcome, decideRetry, parseRetryAfter } from "../../src/resilience/classify.js";
import { DeadlineBackoff } from "../../src/resilience/policy.js";

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
