/**
 * @paypal/checkout-server-sdk pointed at payguard by its environment's base URL. The SDK
 * first POSTs a form-encoded /v1/oauth2/token with no key: the paypal profile exempts it, so
 * `mode: required` does not break the SDK before its first payment. Its HttpError is not
 * exported: callers test `statusCode` and parse `message` (the body), as PayPal's samples do.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { describeSdk } from "./contract.js";

interface PayPalRequest {
  headers: Record<string, string>;
  prefer(value: string): void;
  requestBody(body: unknown): void;
}
interface PayPalSdk {
  core: {
    PayPalEnvironment: new (clientId: string, secret: string, baseUrl: string, webUrl: string) => unknown;
    PayPalHttpClient: new (environment: unknown) => { execute(request: PayPalRequest): Promise<{ statusCode: number; result: { id?: string } }> };
  };
  orders: { OrdersCreateRequest: new () => PayPalRequest };
}
/** The SDK is CommonJS without types. */
const paypal = createRequire(import.meta.url)("@paypal/checkout-server-sdk") as PayPalSdk;

interface PayPalHttpError extends Error {
  statusCode: number;
}

const TOKEN = "/v1/oauth2/token";

const sdk = describeSdk("paypal", {
  gateway: "paypal",
  client: (baseUrl) => {
    // A client id of its own: the SDK caches tokens per client id, process-wide.
    const client = new paypal.core.PayPalHttpClient(new paypal.core.PayPalEnvironment(randomUUID(), "secret", baseUrl, baseUrl));
    return {
      create: (key, amount) => {
        const request = new paypal.orders.OrdersCreateRequest();
        request.headers["PayPal-Request-Id"] = key;
        request.prefer("return=representation");
        request.requestBody({ intent: "CAPTURE", purchase_units: [{ amount: { currency_code: "USD", value: (amount / 100).toFixed(2) } }] });
        return client.execute(request);
      },
    };
  },
  standing: (req) =>
    req.url === TOKEN
      ? steps.json(200, { scope: "https://uri.paypal.com/services/payments", access_token: "A21AA-payguard", token_type: "Bearer", expires_in: 32400 })
      : undefined,
  isCreate: (req) => req.method === "POST" && req.url.startsWith("/v2/checkout/orders"),
  created: steps.json(201, { id: "5O190127TN364715T", status: "CREATED" }, { "paypal-debug-id": "f1a2b3c4d5e6" }),
  idOf: (response) => (response as { result: { id?: string } }).result.id,
  ownError: (err) => err instanceof Error && err.constructor.name === "HttpError" && typeof (err as PayPalHttpError).statusCode === "number",
  codeOf: (err) => (JSON.parse((err as Error).message) as { details?: { issue?: string }[] }).details?.[0]?.issue?.toLowerCase(),
  outcomeOf: (err) => (JSON.parse((err as Error).message) as { outcome?: unknown }).outcome,
});

describe("paypal: the OAuth token call", () => {
  it("passes through with mode: required and no key, and the payment after it is keyed", async () => {
    const client = await sdk.start("idempotency: { mode: required }");
    const key = randomUUID();
    await client.create(key, 1000);
    const token = sdk.env.gw.requests.filter((r) => r.url === TOKEN).at(-1);
    expect(token?.method).toBe("POST");
    expect(token?.headers["content-type"]).toContain("application/x-www-form-urlencoded");
    expect(token?.headers["paypal-request-id"]).toBeUndefined();
    expect(sdk.creates()[0]?.headers["paypal-request-id"]).toBe(key);
  });
});
