/**
 * @adyen/api-library through its custom HTTP client hook (adyen-http.ts). The SDK raises
 * HttpClientException for an answer whose JSON body has `status`, with Adyen's `errorCode`.
 * Adyen authenticates with X-API-Key, which the adyen profile scopes keys by.
 */
import adyen from "@adyen/api-library";
import type { PaymentRequest } from "@adyen/api-library/lib/src/typings/checkout/models.js";
import { steps } from "../support/fake-gateway.js";
import { PayguardAdyenClient } from "./adyen-http.js";
import { describeSdk } from "./contract.js";

const { CheckoutAPI, Client, EnvironmentEnum, HttpClientException } = adyen;

describeSdk("adyen", {
  gateway: "adyen",
  client: (baseUrl) => {
    const client = new Client({ apiKey: "AQE_payguard_test", environment: EnvironmentEnum.TEST });
    client.httpClient = new PayguardAdyenClient(baseUrl);
    const payments = new CheckoutAPI(client).PaymentsApi;
    return {
      create: (key, amount) => {
        const request: PaymentRequest = {
          amount: { currency: "EUR", value: amount },
          reference: "order-payguard",
          merchantAccount: "PayguardTestMerchant",
          returnUrl: "https://shop.example/return",
          paymentMethod: { type: "scheme", encryptedCardNumber: "test_4111111111111111" } as PaymentRequest["paymentMethod"],
        };
        return payments.payments(request, { idempotencyKey: key });
      },
    };
  },
  isCreate: (req) => req.method === "POST" && /^\/v\d+\/payments$/.test(req.url),
  created: steps.json(200, { pspReference: "PSP8815000000000", resultCode: "Authorised" }),
  idOf: (payment) => (payment as { pspReference?: string }).pspReference,
  ownError: (err) => err instanceof HttpClientException,
  codeOf: (err) => (err as InstanceType<typeof HttpClientException>).errorCode,
});
