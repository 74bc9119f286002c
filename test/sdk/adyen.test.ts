/**
 * @adyen/api-library through its custom HTTP client hook (adyen-http.ts). The SDK raises
 * HttpClientException for an answer whose JSON body has `status`, with Adyen's `errorCode`.
 * Adyen authenticates with X-API-Key, which the adyen profile scopes keys by.
 */
import { randomUUID } from "node:crypto";
import adyen from "@adyen/api-library";
import type { PaymentRequest } from "@adyen/api-library/lib/src/typings/checkout/models.js";
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { PayguardAdyenClient } from "./adyen-http.js";
import { describeSdk } from "./contract.js";

const { CheckoutAPI, Client, EnvironmentEnum, HttpClientException } = adyen;

function paymentRequest(amount: number): PaymentRequest {
  return {
    amount: { currency: "EUR", value: amount },
    reference: "order-payguard",
    merchantAccount: "PayguardTestMerchant",
    returnUrl: "https://shop.example/return",
    paymentMethod: { type: "scheme", encryptedCardNumber: "test_4111111111111111" } as PaymentRequest["paymentMethod"],
  };
}

const sdk = describeSdk("adyen", {
  gateway: "adyen",
  client: (baseUrl) => {
    const client = new Client({ apiKey: "AQE_payguard_test", environment: EnvironmentEnum.TEST });
    client.httpClient = new PayguardAdyenClient(baseUrl);
    const payments = new CheckoutAPI(client).PaymentsApi;
    return {
      create: (key, amount) => payments.payments(paymentRequest(amount), { idempotencyKey: key }),
    };
  },
  isCreate: (req) => req.method === "POST" && /^\/v\d+\/payments$/.test(req.url),
  created: steps.json(200, { pspReference: "PSP8815000000000", resultCode: "Authorised" }),
  idOf: (payment) => (payment as { pspReference?: string }).pspReference,
  ownError: (err) => err instanceof HttpClientException,
  codeOf: (err) => (err as InstanceType<typeof HttpClientException>).errorCode,
  // HttpClientException keeps the parsed body as `apiError`.
  outcomeOf: (err) => ((err as InstanceType<typeof HttpClientException>).apiError as { outcome?: unknown } | undefined)?.outcome,
});

describe("adyen: the tenant", () => {
  it("two merchants on the SDK's Basic-auth mode, same key and payload, are two payments, never one's answer replayed to the other (review finding)", async () => {
    const pg = await sdk.env.payguard("", { url: sdk.env.gw.url, gateway: "adyen" });
    const basic = (username: string) => {
      const client = new Client({ username, password: "secret", environment: EnvironmentEnum.TEST });
      client.httpClient = new PayguardAdyenClient(pg.url);
      return new CheckoutAPI(client).PaymentsApi;
    };
    const key = randomUUID();
    await basic("ws@Company.A").payments(paymentRequest(1000), { idempotencyKey: key });
    await basic("ws@Company.B").payments(paymentRequest(1000), { idempotencyKey: key });
    expect(sdk.creates()).toHaveLength(2);
    expect(new Set(sdk.creates().map((r) => r.headers.authorization)).size).toBe(2);
  });
});
