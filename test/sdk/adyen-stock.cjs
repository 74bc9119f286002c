// @adyen/api-library as shipped (no custom httpClient): it calls https://checkout-test.adyen.com.
// Given a proxy port, through its documented proxy setting (httpClient.proxy) and a CONNECT
// tunnel (test/sdk/proxy-mode.test.ts); without one, straight to the name, which the process's
// /etc/hosts sends to payguard (test/sdk/intercept.test.ts). Either way it trusts payguard's CA
// through NODE_EXTRA_CA_CERTS only. Prints one JSON line.
const { CheckoutAPI, Client, EnvironmentEnum } = require("@adyen/api-library");

const [key, proxyPort] = process.argv.slice(2);
const client = new Client({ apiKey: "AQE_stock", environment: EnvironmentEnum.TEST });
if (proxyPort) client.httpClient.proxy = { host: "127.0.0.1", port: Number(proxyPort) };
const payments = new CheckoutAPI(client).PaymentsApi;
const request = (value) => ({
  amount: { currency: "EUR", value },
  reference: "order-stock",
  merchantAccount: "PayguardTestMerchant",
  returnUrl: "https://shop.example/return",
  paymentMethod: { type: "scheme", encryptedCardNumber: "test_4111111111111111" },
});
const outcome = async (value) => {
  try {
    const answer = await payments.payments(request(value), { idempotencyKey: key });
    return { ok: true, pspReference: answer.pspReference };
  } catch (err) {
    return {
      ok: false,
      type: err.constructor.name,
      status: err.statusCode ?? null,
      code: (() => {
        try {
          return JSON.parse(err.responseBody).code;
        } catch {
          return null;
        }
      })(),
    };
  }
};
(async () => {
  const first = await outcome(1000);
  const repeat = await outcome(1000);
  const changed = await outcome(2000);
  console.log(JSON.stringify({ first, repeat, changed }));
})();
