/**
 * `gateways`: several gateways in one file, each merged over the top level and given its own
 * profile; the one-gateway `upstream` form stays the shorthand ("default", keys unscoped).
 */
import { describe, expect, it } from "vitest";
import { loadConfigText } from "../../src/config/load.js";
import { problemsOf } from "../support/config.js";

const THREE = `
idempotency: { ttl: 2h, maxKeyLength: 100 }
resilience: { retry: { maxAttempts: 2 } }
gateways:
  stripe: { url: https://api.stripe.com, port: 8081 }
  adyen:
    url: https://checkout-test.adyen.com
    resilience: { breaker: { threshold: 9 } }
  paypal:
    url: https://api-m.sandbox.paypal.com
    idempotency: { mode: optional }
    routes: [ { name: orders, path: /v2/checkout/orders } ]
`;

describe("gateways", () => {
  it("each gateway is the top level with its own overrides and its own profile", () => {
    const { config, profiles } = loadConfigText(THREE, {});
    expect(config.gateways.map((g) => [g.name, g.port, g.scoped, g.config.upstream.url, g.config.upstream.gateway])).toEqual([
      ["stripe", 8081, true, "https://api.stripe.com", "stripe"],
      ["adyen", undefined, true, "https://checkout-test.adyen.com", "adyen"],
      ["paypal", undefined, true, "https://api-m.sandbox.paypal.com", "paypal"],
    ]);
    const [stripe, adyen, paypal] = config.gateways.map((g) => g.config);
    // the top level's values reach every gateway; a gateway's own win
    expect([stripe, adyen, paypal].map((c) => c?.idempotency.ttl)).toEqual([7_200_000, 7_200_000, 7_200_000]);
    expect([stripe, adyen, paypal].map((c) => c?.resilience.retry.maxAttempts)).toEqual([2, 2, 2]);
    expect(paypal?.idempotency.mode).toBe("optional");
    expect(stripe?.idempotency.mode).not.toBe("optional");
    expect(adyen?.resilience.breaker.threshold).toBe(9);
    expect(stripe?.resilience.breaker.threshold).not.toBe(9);
    // a gateway's routes replace the top level's
    expect(paypal?.routes.map((r) => r.name)).toEqual(["orders"]);
    expect(stripe?.routes).toEqual([]);
    // the file's value wins over the profile (Adyen's profile caps keys at 64: the file said 100)
    expect(adyen?.idempotency.maxKeyLength).toBe(100);
    expect(Object.keys(profiles)).toEqual(["stripe", "adyen", "paypal"]);
    expect(profiles.adyen?.gateway).toBe("adyen");
    // the config's own sections are the first gateway's: server.port serves it
    expect(config.upstream.url).toBe("https://api.stripe.com");
  });

  it("the upstream shorthand is one gateway named default whose keys stay unscoped", () => {
    const { config } = loadConfigText("upstream: { url: https://api.stripe.com }\n", {});
    const { gateways, ...own } = config;
    expect(gateways).toEqual([{ name: "default", port: undefined, hosts: ["api.stripe.com"], scoped: false, config: own }]);
  });

  it("a profile's default reaches its own gateway only", () => {
    const { config } = loadConfigText("gateways:\n  adyen: { url: https://checkout-test.adyen.com }\n  stripe: { url: https://api.stripe.com }\n", {});
    const [adyen, stripe] = config.gateways.map((g) => g.config.idempotency.maxKeyLength);
    expect(adyen).toBe(64);
    expect(stripe).toBe(255);
  });

  it("problems: every one at its path — the entry's own keys, names, ports, both forms, and a merged view's cross-check", () => {
    const problems = problemsOf(`
upstream: { url: https://api.stripe.com }
gateways:
  Stripe: { url: https://api.stripe.com }
  adyen: { url: ftp://x, idempotency: { mode: sometimes }, colour: red }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^gateways\.Stripe: .*lowercase/),
        expect.stringMatching(/^gateways\.adyen\.url: must use http or https/),
        expect.stringMatching(/^gateways\.adyen\.idempotency\.mode: /),
        expect.stringMatching(/^gateways\.adyen\.colour: unknown key/),
        expect.stringMatching(/^upstream: set either upstream \(one gateway\) or gateways/),
      ]),
    );
    expect(problemsOf("gateways:\n  a: { url: http://a, port: 8080 }\n  b: { url: http://b, port: 8081 }\n  c: { url: http://c, port: 8081 }\n")).toEqual([
      "gateways.a.port: 8080 is already server.port",
      "gateways.c.port: 8081 is already gateways.b.port",
    ]);
    // with interception, a host name is one gateway's (it picks the gateway); without, the same host is fine
    const ca = "intercept: { ca: { certFile: /ca.crt, keyFile: /ca.key } }\n";
    expect(problemsOf(`${ca}gateways:\n  a: { url: "https://api.x.com" }\n  b: { url: "https://api.x.com:8443" }\n`)).toEqual([
      "gateways.b.hosts: api.x.com is already gateways.a's (set hosts to tell them apart)",
    ]);
    expect(
      problemsOf("gateways:\n  a: { url: https://api.x.com }\n  b: { url: https://api.x.com:8443 }\n  c: { url: http://c, idempotency: { ttl: 1s } }\n"),
    ).toHaveLength(1);
    expect(problemsOf("gateways:\n  a: { url: http://a, idempotency: { ttl: 1s } }\n")).toEqual([
      expect.stringMatching(/^gateways\.a \(merged over the top level\) → idempotency\.ttl: must be ≥ resilience\.timeout\.total/),
    ]);
  });
});
