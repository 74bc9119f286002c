/**
 * checkout-sdk-node pointed at payguard by its `host` option. The SDK throws one error
 * class per status with the body in `err.body` — except for a 502, where it throws
 * `new BadGateway()` and drops the body (services/errors.js determineError). So under the
 * checkout profile payguard answers its own 502s as 500s: an ApiError with the body.
 */
import { randomUUID } from "node:crypto";
import { Checkout } from "checkout-sdk-node";
import * as errors from "checkout-sdk-node/dist/services/errors.js";
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { describeSdk } from "./contract.js";

/** The SDK's error classes (determineError, the one function there, is no class). */
const SDK_ERRORS: (abstract new (...args: never[]) => Error)[] = Object.entries(errors)
  .filter(([name]) => name !== "determineError")
  .map(([, type]) => type as abstract new (...args: never[]) => Error);

const checkout = describeSdk("checkout", {
  gateway: "checkout",
  client: (host) => {
    const cko = new Checkout("sk_sbox_payguard", { host });
    return { create: (key, amount) => cko.payments.request({ source: { type: "token", token: "tok_payguard" }, amount, currency: "GBP" }, key) };
  },
  isCreate: (req) => req.method === "POST" && req.url === "/payments",
  created: steps.json(201, { id: "pay_mbabizu24mvu3mela5njyhpit4", approved: true, status: "Authorized", amount: 1000, currency: "GBP" }),
  idOf: (payment) => (payment as { id?: string }).id,
  ownError: (err) => SDK_ERRORS.some((type) => err instanceof type),
  codeOf: (err) => (err as { body?: { error_codes?: string[] } }).body?.error_codes?.[0],
  outcomeOf: (err) => (err as { body?: { outcome?: unknown } }).body?.outcome,
});

describe("checkout: the SDK's 502", () => {
  it("payguard's own 502 reaches the caller as an ApiError 500 with the body, not a bare BadGateway", async () => {
    const client = await checkout.start("idempotency: { upstreamKey: false }");
    checkout.env.gw.script(steps.reset());
    const key = randomUUID();
    await client.create(key, 1000).catch(() => {});
    const err = await client.create(key, 1000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(errors.ApiError);
    expect((err as { http_code?: number }).http_code).toBe(500);
    expect((err as { body?: unknown }).body).toMatchObject({ status: 500, code: "outcome_indeterminate", outcome: "unknown" });
  });

  it("a gateway's own 502 passes through untouched: the SDK's BadGateway", async () => {
    const client = await checkout.start("resilience: { retry: { maxAttempts: 1 } }");
    checkout.env.gw.script(steps.json(502, { error_type: "bad_gateway" }));
    const err = await client.create(randomUUID(), 1000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(errors.BadGateway);
  });
});
