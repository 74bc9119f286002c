/**
 * stripe-node as a new user runs it — its own automatic Idempotency-Key, maxNetworkRetries —
 * through payguard in front of a Stripe-like gateway that answers late, resets after
 * charging, or answers 503. The claim: not one create() resolves without a charge id; every
 * other outcome is a StripeError the application sees as a failure, and no key is charged
 * twice.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import type { SeenRequest, Step } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { until } from "../support/until.js";
import { stripeClient } from "./stripe-client.js";

const CALLS = 120;
const CONCURRENCY = 12;
const SEED = Number(process.env.STRIPE_FAULTS_SEED ?? 20261201);

/** mulberry32: a small seeded PRNG, so a failure can be replayed with its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A Stripe-compatible server. With `dedupe` it is Stripe: a key's first charge is kept and
 * replayed to every repeat. Without, it is an acquirer API with no idempotency: every
 * request that reaches the charge step charges. Faults per arrival, from the seed.
 */
function faultyGateway(seed: number, dedupe: boolean) {
  const draw = random(seed);
  const byKey = new Map<string, string>();
  const charged: string[] = [];
  /** every key a request reached the gateway with, and those charged */
  const seenKeys = new Set<string>();
  const chargedKeys = new Set<string>();
  const charge = (id: string): Step => ({
    status: 200,
    body: { id, object: "charge", amount: 1000, currency: "usd", status: "succeeded" },
    headers: { "request-id": `req_${id}` },
  });
  const answer = (req: SeenRequest): Step => {
    const key = String(req.headers["idempotency-key"] ?? req.headers["x-test-key"] ?? "");
    seenKeys.add(key);
    const known = dedupe ? byKey.get(key) : undefined;
    // A known key (Stripe's dedupe) loses its answer too, at times: with payguard's retries of
    // one call all lost, it must answer itself — the run never passes without that path.
    if (known) return draw() < 0.3 ? { destroy: "now" } : charge(known);
    const roll = draw();
    if (roll < 0.1) return { status: 503, body: { error: { type: "api_error", message: "overloaded, nothing was processed" } } };
    const id = `ch_${charged.length + 1}`;
    charged.push(id);
    chargedKeys.add(key);
    byKey.set(key, id);
    if (roll < 0.2) return { destroy: "now" }; // charged, and the answer is lost
    if (roll < 0.3) return { ...charge(id), delayMs: 1200 }; // charged, answered after payguard gave up
    return charge(id);
  };
  return { answer, charged, seenKeys, chargedKeys };
}

type Outcome = { ok: true; id: unknown } | { ok: false; error: unknown };

describe("stripe-node with maxNetworkRetries over a faulty gateway, through payguard", () => {
  const env = useGateway();

  /** CALLS creates, CONCURRENCY at a time, each with stripe-node's own automatic key. */
  async function run(dedupe: boolean, extra: string) {
    const gateway = faultyGateway(SEED, dedupe);
    env.gw.setDefault(gateway.answer);
    const pg = await env.payguard(extra, { url: env.gw.url, gateway: "stripe" });
    const stripe = stripeClient(pg.url, 2);
    const outcomes: Outcome[] = [];
    let started = 0;
    const worker = async () => {
      while (started < CALLS) {
        started++;
        outcomes.push(
          await stripe.charges.create({ amount: 1000, currency: "usd", source: "tok_visa" }).then(
            (charge): Outcome => ({ ok: true, id: charge.id }),
            (error: unknown): Outcome => ({ ok: false, error }),
          ),
        );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    // Answers payguard made itself (problem codes on the access line), which the SDK had to read.
    // The access lines are written in batches (up to 100 ms late): wait for one per call at least.
    const lines = () => pg.logs.map((line) => JSON.parse(line) as { msg?: string; outcome?: string }).filter((l) => l.msg === "request");
    await until(() => lines().length >= CALLS, "an access line for every call");
    const own = lines().filter((l) => l.outcome !== "upstream");
    return { outcomes, charged: new Set(gateway.charged), own: own.length };
  }

  function expectNoChargeless(result: Awaited<ReturnType<typeof run>>, context: string): void {
    const resolved = result.outcomes.filter((o) => o.ok);
    expect(result.outcomes, context).toHaveLength(CALLS);
    expect(result.own, `${context}: the run must make payguard answer some requests itself`).toBeGreaterThan(0);
    expect(
      resolved.filter((o) => typeof o.id !== "string" || !result.charged.has(o.id)),
      `${context}: resolved without a charge the gateway made`,
    ).toEqual([]);
    for (const o of result.outcomes) if (!o.ok) expect(o.error, context).toBeInstanceOf(Stripe.errors.StripeError);
    // No charge was given to two calls.
    expect(new Set(resolved.map((o) => o.id)).size, context).toBe(resolved.length);
  }

  it(`Stripe deduping: not one of ${CALLS} charges.create() resolves without a charge id (seed ${SEED})`, async () => {
    const result = await run(
      true,
      "resilience: { timeout: { attempt: 300ms, total: 700ms }, retry: { maxAttempts: 2, backoff: { initial: 20ms } }, breaker: { threshold: 50 } }",
    );
    expectNoChargeless(result, `seed ${SEED}, dedupe`);
  }, 60_000);

  it(`no idempotency at the gateway (upstreamKey: false): not one of ${CALLS} resolves without a charge id (seed ${SEED})`, async () => {
    const result = await run(
      false,
      "idempotency: { upstreamKey: false }\nresilience: { timeout: { attempt: 300ms, total: 700ms }, retry: { backoff: { initial: 20ms } }, breaker: { threshold: 50 } }",
    );
    expectNoChargeless(result, `seed ${SEED}, no dedupe`);
    // Without the gateway's dedupe, payguard alone stands between a retry and a second charge.
    const failures = result.outcomes.filter((o) => !o.ok) as { error: Stripe.errors.StripeError }[];
    expect(failures.map((f) => f.error.code)).toContain("outcome_indeterminate");
  }, 60_000);

  it(`default store, no upstream key: every charged payment whose create() threw was told "unknown", and none that never reached the gateway (seed ${SEED})`, async () => {
    const gateway = faultyGateway(SEED, false);
    env.gw.setDefault(gateway.answer);
    const path = join(mkdtempSync(join(tmpdir(), "payguard-faults-")), "payguard.db");
    const pg = await env.payguard(
      `store: { type: sqlite, path: "${path}" }\nidempotency: { upstreamKey: false }\nresilience: { timeout: { attempt: 300ms, total: 700ms }, retry: { backoff: { initial: 20ms } }, breaker: { threshold: 50 } }`,
      { url: env.gw.url, gateway: "stripe" },
    );
    const stripe = stripeClient(pg.url, 5);
    // The key of each call, in a header the gateway sees even with upstreamKey off (payguard strips the key header then).
    const calls = Array.from({ length: CALLS }, () => randomUUID());
    const thrown: { key: string; error: Stripe.errors.StripeError }[] = [];
    let next = 0;
    const worker = async () => {
      for (let key = calls[next++]; key !== undefined; key = calls[next++]) {
        const call = key;
        await stripe.charges
          .create({ amount: 1000, currency: "usd", source: "tok_visa" }, { idempotencyKey: call, headers: { "x-test-key": call } } as Stripe.RequestOptions)
          .catch((error: Stripe.errors.StripeError) => void thrown.push({ key: call, error }));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const outcome = (e: Stripe.errors.StripeError) => (e.raw as { outcome?: unknown }).outcome;
    const chargedButNotUnknown = thrown.filter((t) => gateway.chargedKeys.has(t.key) && outcome(t.error) !== "unknown");
    const neverSentButUnknown = thrown.filter((t) => !gateway.seenKeys.has(t.key) && outcome(t.error) === "unknown");
    expect(thrown.filter((t) => gateway.chargedKeys.has(t.key)).length, "the run must leave some charged payments thrown").toBeGreaterThan(0);
    expect(
      chargedButNotUnknown.map((t) => `${t.error.code} ${t.error.statusCode}`),
      "charged, thrown, not told unknown",
    ).toEqual([]);
    expect(
      neverSentButUnknown.map((t) => t.error.code),
      "never reached the gateway, told unknown",
    ).toEqual([]);
  }, 60_000);
});
