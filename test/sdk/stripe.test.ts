/**
 * stripe-node (the official Stripe SDK) pointed at payguard by host and port. stripe-node
 * tells success from error by the body's `error` member, not by the status: without the
 * Stripe envelope every refusal would come back as a "charge".
 */
import { randomUUID } from "node:crypto";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { describeSdk } from "./contract.js";
import { stripeClient } from "./stripe-client.js";

const sdk = describeSdk("stripe", {
  gateway: "stripe",
  client: (baseUrl) => {
    const stripe = stripeClient(baseUrl);
    return { create: (key, amount) => stripe.charges.create({ amount, currency: "usd", source: "tok_visa" }, { idempotencyKey: key }) };
  },
  isCreate: (req) => req.method === "POST" && req.url === "/v1/charges",
  created: steps.json(200, { id: "ch_3PayguardTest", object: "charge", amount: 1000, currency: "usd", status: "succeeded" }, { "request-id": "req_gw1" }),
  idOf: (charge) => (charge as Stripe.Charge).id,
  ownError: (err) => err instanceof Stripe.errors.StripeError,
  codeOf: (err) => (err as Stripe.errors.StripeError).code,
  // stripe-node keeps the body's `error` object whole as `raw`.
  outcomeOf: (err) => ((err as Stripe.errors.StripeError).raw as { outcome?: unknown }).outcome,
});

describe("stripe: Stripe-Should-Retry", () => {
  /** stripe-node with retries on, and the number of requests payguard received for one key. */
  async function attempts(extra: string, script: () => void) {
    const pg = await sdk.env.payguard(extra, { url: sdk.env.gw.url, gateway: "stripe" });
    script();
    const error = await stripeClient(pg.url, 2)
      .charges.create({ amount: 1000, currency: "usd", source: "tok_visa" }, { idempotencyKey: randomUUID() })
      .then(
        () => undefined,
        (e: unknown) => e as Stripe.errors.StripeError,
      );
    const lines = pg.logs.map((l) => JSON.parse(l) as { msg?: string }).filter((l) => l.msg === "request");
    return { error, requests: lines.length };
  }

  it("false: stripe-node gives up at once on a lost answer it must not repeat (no upstream key)", async () => {
    const { error, requests } = await attempts("idempotency: { upstreamKey: false }", () => sdk.env.gw.script({ destroy: "now" }));
    expect(error?.code).toBe("upstream_reset");
    expect(error?.headers?.["stripe-should-retry"]).toBe("false");
    expect(requests).toBe(1);
  });

  it("true: stripe-node retries a refusal that is safe to repeat (breaker open) with the same key", async () => {
    // completion off: with it, the reset's key would stay in flight and the SDK's retry wait for it (completion.test.ts)
    const noCompletion = "idempotency: { completion: { maxDuration: 0 } }";
    const { error, requests } = await attempts(
      `${noCompletion}\nresilience: { retry: { maxAttempts: 1 }, breaker: { threshold: 1, halfOpenAfter: 30s } }`,
      () => sdk.env.gw.script({ destroy: "now" }),
    );
    expect(error?.code).toBe("circuit_open");
    expect(requests).toBe(3);
  });
});
