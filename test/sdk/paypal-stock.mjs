// @paypal/paypal-server-sdk as shipped, Sandbox environment: it calls
// https://api-m.sandbox.paypal.com (an OAuth token, then the order). Run by
// test/sdk/intercept.test.ts in a process whose /etc/hosts sends that name to payguard and
// which trusts payguard's CA through NODE_EXTRA_CA_CERTS only. Prints one JSON line.
import { ApiError, CheckoutPaymentIntent, Client, Environment, OrdersController } from "@paypal/paypal-server-sdk";

const key = process.argv[2];
const client = new Client({
  clientCredentialsAuthCredentials: { oAuthClientId: "payguard-client", oAuthClientSecret: "secret" },
  environment: Environment.Sandbox,
  timeout: 10_000,
  httpClientOptions: { retryConfig: { maxNumberOfRetries: 0 } },
});
const orders = new OrdersController(client);
const create = (value) =>
  orders.createOrder({
    body: { intent: CheckoutPaymentIntent.Capture, purchaseUnits: [{ amount: { currencyCode: "USD", value } }] },
    paypalRequestId: key,
    prefer: "return=representation",
  });
const outcome = async (value) => {
  try {
    const response = await create(value);
    return { ok: true, id: response.result.id };
  } catch (err) {
    const body = typeof err.body === "string" ? err.body : "";
    return {
      ok: false,
      type: err instanceof ApiError ? "ApiError" : err.constructor.name,
      status: err.statusCode ?? null,
      issue: (() => {
        try {
          return JSON.parse(body).details?.[0]?.issue ?? null;
        } catch {
          return null;
        }
      })(),
    };
  }
};
const first = await outcome("10.00");
const repeat = await outcome("10.00");
const changed = await outcome("20.00");
console.log(JSON.stringify({ first, repeat, changed }));
