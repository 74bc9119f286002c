/**
 * checkout-sdk-node pointed at payguard by its `host` option. The SDK throws one error
 * class per status with the body in `err.body` — except for a 502, where it throws
 * `new BadGateway()` and drops the body (services/errors.js determineError): a 502 reaches
 * its caller as "Bad gateway", an error but without payguard's code.
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
  unreadable: { codes: ["upstream_reset", "outcome_indeterminate"], why: "checkout-sdk-node throws a bare BadGateway for every 502" },
});

describe("checkout: the SDK's 502", () => {
  it("is a BadGateway without the body, so payguard's code cannot reach the caller (never a success)", async () => {
    const client = await checkout.start("idempotency: { upstreamKey: false }");
    checkout.env.gw.script(steps.reset());
    const key = randomUUID();
    await client.create(key, 1000).catch(() => {});
    const err = await client.create(key, 1000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(errors.BadGateway);
    expect((err as { http_code?: number; body?: unknown }).http_code).toBe(502);
    expect((err as { body?: unknown }).body).toBeUndefined();
  });
});
