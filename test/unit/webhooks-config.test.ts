/**
 * `webhooks`: endpoints name a configured gateway with a scheme payguard verifies, paths and
 * the listener's port are their own, and only a durable store (sqlite, postgres) may keep
 * events — every problem listed at its path in one pass.
 */
import { describe, expect, it } from "vitest";
import { checkSummary } from "../../src/check.js";
import { loadConfigText, parseConfig } from "../../src/config/load.js";
import { schemeOf } from "../../src/config/webhooks.js";
import { problemsOf } from "../support/config.js";

const endpoint = (gateway: string, path: string, extra = "") =>
  `{ gateway: ${gateway}, path: ${path}, secret: whsec_x, deliverTo: "http://127.0.0.1:3000/hook"${extra} }`;

describe("webhooks config", () => {
  it("a stripe and an adyen endpoint: each gateway's scheme comes from its profile", () => {
    const config = parseConfig(
      `gateways:\n  stripe: { url: https://api.stripe.com }\n  adyen: { url: https://checkout-test.adyen.com }\nwebhooks:\n  endpoints:\n    - ${endpoint("stripe", "/webhooks/stripe")}\n    - ${endpoint("adyen", "/webhooks/adyen")}\n`,
      {},
    );
    expect(config.webhooks).toMatchObject({ host: "0.0.0.0", port: 8081, maxBodySize: 1024 * 1024 });
    expect(config.webhooks.endpoints.map((e) => schemeOf(e, config.gateways))).toEqual(["stripe", "adyen"]);
  });

  it("check prints the listener and each endpoint, never its secret", () => {
    const loaded = loadConfigText(
      `upstream: { url: https://api.stripe.com }\nwebhooks: { endpoints: [ { gateway: default, path: /hook, secret: whsec_never_printed, deliverTo: "http://127.0.0.1:3000/hook" } ] }\n`,
      {},
    );
    const text = checkSummary("payguard.yaml", loaded);
    expect(text).toContain("webhooks  0.0.0.0:8081");
    expect(text).toContain("POST /hook: gateway default, stripe signatures → http://127.0.0.1:3000/hook");
    expect(text).not.toContain("whsec_never_printed");
  });

  it("the one-gateway shorthand is gateway default", () => {
    const config = parseConfig(`upstream: { url: https://api.stripe.com }\nwebhooks: { endpoints: [ ${endpoint("default", "/hook")} ] }\n`, {});
    expect(schemeOf(config.webhooks.endpoints[0] as never, config.gateways)).toBe("stripe");
  });

  it("lists every problem at its path: a per-pod memory store, an unknown gateway, no scheme for a generic gateway, a path twice, a taken port", () => {
    const problems = problemsOf(`
store: { type: memory }
gateways:
  stripe: { url: https://api.stripe.com }
  bank: { url: https://api.bank.example }
webhooks:
  port: 8080
  endpoints:
    - ${endpoint("stripe", "/hook")}
    - ${endpoint("adyen", "/adyen")}
    - ${endpoint("bank", "/hook")}
`);
    expect(problems).toEqual([
      "webhooks.endpoints: need store.type sqlite or postgres (an event is acknowledged only once stored durably; memory is not offered)",
      "webhooks.port: 8080 is already another listener's",
      'webhooks.endpoints[1].gateway: no gateway "adyen" (configured: stripe, bank)',
      'webhooks.endpoints[2].scheme: gateway "bank" has no webhook scheme payguard verifies; set scheme (stripe, adyen, checkout, square, paypal)',
      "webhooks.endpoints[2].path: /hook is already another endpoint's",
    ]);
  });

  it("a Square endpoint needs the notification URL Square signs; the service's own URL is optional", () => {
    const square = (extra: string) =>
      `gateways:\n  square: { url: https://connect.squareup.com }\nwebhooks:\n  endpoints:\n    - ${endpoint("square", "/sq", extra)}\n`;
    expect(problemsOf(square(""))).toEqual([
      "webhooks.endpoints[0].notificationUrl: Square signs the URL registered on the subscription; set it exactly as registered",
    ]);
    const config = parseConfig(square(', notificationUrl: "https://pay.example.com/sq"'), {});
    expect(schemeOf(config.webhooks.endpoints[0] as never, config.gateways)).toBe("square");
  });

  it("PayPal needs its webhook id and a pinned certificate, no secret; every other scheme needs its secret", () => {
    const yaml = (gateway: string, url: string, fields: string) =>
      `gateways:\n  ${gateway}: { url: ${url} }\nwebhooks:\n  endpoints:\n    - { gateway: ${gateway}, path: /hook, deliverTo: "http://127.0.0.1:3000/hook"${fields} }\n`;
    expect(problemsOf(yaml("paypal", "https://api-m.paypal.com", ""))).toEqual([
      "webhooks.endpoints[0].webhookId: PayPal signs the id of the webhook subscription; set it",
      "webhooks.endpoints[0].certificate: PayPal's signing certificate must be pinned (a PEM file); it is never fetched",
    ]);
    const config = parseConfig(yaml("paypal", "https://api-m.paypal.com", ", webhookId: WH1, certificate: /etc/paypal.pem"), {});
    expect(schemeOf(config.webhooks.endpoints[0] as never, config.gateways)).toBe("paypal");
    expect(problemsOf(yaml("stripe", "https://api.stripe.com", ""))).toEqual(["webhooks.endpoints[0].secret: required for stripe signatures"]);
  });

  it("a delivery lease shorter than two attempts is refused: it could pass to another replica mid-attempt", () => {
    expect(problemsOf(`upstream: { url: https://api.stripe.com }\nwebhooks: { delivery: { timeout: 10s, lease: 15s } }\n`)).toEqual([
      "webhooks.delivery.lease: must be at least twice delivery.timeout (a lease outlives its attempt)",
    ]);
  });

  it("field errors at their paths: a relative path, a deliverTo that is not a URL, an unknown scheme, no secret", () => {
    const problems = problemsOf(
      `upstream: { url: https://api.stripe.com }\nwebhooks: { endpoints: [ { gateway: default, path: hook, secret: "", deliverTo: "ftp://x", scheme: bitpay } ] }\n`,
    );
    expect(problems.map((p) => p.split(":")[0])).toEqual(
      expect.arrayContaining(["webhooks.endpoints[0].scheme", "webhooks.endpoints[0].path", "webhooks.endpoints[0].secret", "webhooks.endpoints[0].deliverTo"]),
    );
  });
});
