/** The retry classifier reads `5xx` in retry.on as every 5xx status (user report). Pure. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { type AttemptOutcome, decideRetry, meets } from "../../src/resilience/classify.js";

const retryOn = (on: string) => parseConfig(`upstream: { url: http://gw }\nresilience: { retry: { on: ${on} } }\n`, {}).resilience.retry;
const facts = { method: "POST", keyed: true, remainingMs: 10_000, now: 0 };
const response = (status: number): AttemptOutcome => ({ kind: "response", status, headers: {} });
const failure = (kind: "connect" | "timeout" | "reset" | "other"): AttemptOutcome => ({ kind: "failure", failure: { kind, maybeSent: true, code: "X" } });

describe("retry.on: 5xx", () => {
  it("retries every status from 500 to 599, its reason the status itself (the metric label)", () => {
    const retry = retryOn("[5xx]");
    for (let status = 500; status <= 599; status++) {
      expect(decideRetry(response(status), facts, retry), String(status)).toEqual({ retry: true, reason: String(status), minDelayMs: 0 });
    }
  });

  it("and nothing else: no 4xx, no 2xx, no failure kind it does not list", () => {
    const retry = retryOn("[5xx]");
    for (const status of [200, 404, 409, 429, 499]) expect(decideRetry(response(status), facts, retry), String(status)).toEqual({ retry: false });
    for (const kind of ["connect", "timeout", "reset", "other"] as const) expect(decideRetry(failure(kind), facts, retry)).toEqual({ retry: false });
  });

  it("beside statuses and failure kinds, each condition matching only what it names", () => {
    expect(meets(response(503), "5xx")).toBe(true);
    expect(meets(response(503), 503)).toBe(true);
    expect(meets(response(502), 503)).toBe(false);
    expect(meets(response(429), "5xx")).toBe(false);
    expect(meets(failure("reset"), "reset")).toBe(true);
    expect(meets(failure("reset"), "5xx")).toBe(false);
    expect(meets(failure("other"), "5xx")).toBe(false);
    const retry = retryOn("[reset, 5xx, 429]");
    expect(decideRetry(response(429), facts, retry)).toMatchObject({ retry: true, reason: "429" });
    expect(decideRetry(failure("reset"), facts, retry)).toMatchObject({ retry: true, reason: "reset" });
  });

  it("still by the safety rule: a 5xx of an unkeyed POST is not re-sent", () => {
    expect(decideRetry(response(500), { ...facts, keyed: false }, retryOn("[5xx]"))).toEqual({ retry: false, suppressed: "unsafe", reason: "500" });
  });
});
