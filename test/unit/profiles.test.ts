import { describe, expect, it } from "vitest";
import { isConfigError, loadConfigText, parseConfig } from "../../src/config/load.js";
import { compileRoutes } from "../../src/config/routes.js";
import { PROBLEMS, type ProblemCode, ProxyError, problemResponse } from "../../src/errors.js";
import { detectGateway, GATEWAYS, type GatewayName } from "../../src/gateways/detect.js";
import { profileOf } from "../../src/gateways/index.js";

const yaml = (url: string, extra = "") => `upstream: { url: "${url}" }\n${extra}`;

describe("upstream.gateway: auto", () => {
  it.each([
    ["https://api.stripe.com", "stripe"],
    ["https://checkout-test.adyen.com/v71", "adyen"],
    ["https://pal-test.adyen.com/pal/servlet", "adyen"],
    ["https://1797a841fbb37ca7-AdyenDemo-checkout-live.adyenpayments.com/checkout", "adyen"],
    ["https://api-m.paypal.com", "paypal"],
    ["https://api-m.sandbox.paypal.com", "paypal"],
    ["https://connect.squareup.com", "square"],
    ["https://connect.squareupsandbox.com", "square"],
    ["https://api.checkout.com", "checkout"],
    ["https://api.sandbox.checkout.com", "checkout"],
    ["https://a1b2c3d4.api.sandbox.checkout.com", "checkout"],
    ["https://a1b2c3d4.api.checkout.com", "checkout"],
    ["https://API.STRIPE.COM", "stripe"],
    // not :8080, payguard's own default server.port: that config would loop, and is refused at load
    ["http://127.0.0.1:8081", "generic"],
    ["https://stripe.com.evil.example", "generic"],
    ["https://notadyen.com", "generic"],
    ["https://api.stripe.com.example", "generic"],
  ])("%s → %s", (url, gateway) => {
    expect(detectGateway(url)).toBe(gateway);
    const loaded = loadConfigText(yaml(url), {});
    expect(loaded.config.upstream.gateway).toBe(gateway);
    expect(loaded.profile).toMatchObject({ gateway, chosenBy: "auto" });
  });

  it("a gateway named in the file wins over the host", () => {
    const loaded = loadConfigText('upstream: { url: "http://127.0.0.1:9", gateway: square }', {});
    expect(loaded.config.upstream.gateway).toBe("square");
    expect(loaded.profile.chosenBy).toBe("config");
    expect(loaded.config.idempotency.bodyField).toBe("/idempotency_key");
  });

  it("an unknown gateway name is a config error at its path", () => {
    try {
      parseConfig('upstream: { url: "http://gw", gateway: braintree }', {});
      expect.unreachable();
    } catch (err) {
      if (!isConfigError(err)) throw err;
      expect(err.problems).toEqual([expect.stringMatching(/^upstream\.gateway: must be one of "auto", "stripe", "adyen"/)]);
    }
  });
});

describe("profile defaults", () => {
  it("each profile sets what its gateway's docs say", () => {
    const of = (url: string) => parseConfig(yaml(url), {});
    const stripe = of("https://api.stripe.com");
    expect(stripe.idempotency).toMatchObject({
      header: "idempotency-key",
      maxKeyLength: 255,
      upstreamKey: { header: "idempotency-key" },
      notProcessed: [400, 401],
    });
    expect(stripe.resilience.retry.hints).toEqual(["stripe-should-retry"]);
    expect(stripe.upstream.requestId).toEqual({ header: "request-id", field: false });

    const adyen = of("https://checkout-test.adyen.com");
    expect(adyen.idempotency).toMatchObject({ maxKeyLength: 64, scope: ["x-api-key", "authorization"] });
    expect(adyen.resilience.retry.hints).toEqual(["transient-error"]);
    expect(adyen.upstream.requestId).toEqual({ header: false, field: "/pspReference" });

    const paypal = of("https://api-m.paypal.com");
    expect(paypal.idempotency).toMatchObject({ header: "paypal-request-id", upstreamKey: { header: "paypal-request-id" }, exempt: ["/v1/oauth2/token"] });

    const square = of("https://connect.squareup.com");
    expect(square.idempotency).toMatchObject({ bodyField: "/idempotency_key", upstreamKey: "body" });

    const checkout = of("https://api.checkout.com");
    expect(checkout.idempotency).toMatchObject({ header: "cko-idempotency-key", upstreamKey: { header: "cko-idempotency-key" }, notProcessed: [422] });
    expect(checkout.upstream.requestId.header).toBe("cko-request-id");
  });

  it("every key a profile sets stays overridable at the top level and per route", () => {
    const config = parseConfig(
      yaml(
        "https://checkout-test.adyen.com",
        `idempotency: { maxKeyLength: 40, scope: [authorization] }
resilience: { retry: { hints: [] } }
routes:
  - { name: refunds, path: /v71/refunds, idempotency: { maxKeyLength: 20, upstreamKey: false }, resilience: { retry: { hints: [x-retry] } } }`,
      ),
      {},
    );
    expect(config.idempotency.maxKeyLength).toBe(40);
    expect(config.idempotency.scope).toEqual(["authorization"]);
    expect(config.resilience.retry.hints).toEqual([]);
    // What the file did not set still comes from the profile.
    expect(config.idempotency.upstreamKey).toEqual({ header: "idempotency-key" });
    const refunds = compileRoutes(config).match("POST", "/v71/refunds");
    expect(refunds.idempotency).toMatchObject({ maxKeyLength: 20, upstreamKey: false, scope: ["authorization"] });
    expect(refunds.resilience.retry.hints).toEqual(["x-retry"]);
  });

  it("reports each default it set, and none the file set itself", () => {
    const { profile } = loadConfigText(yaml("https://api-m.paypal.com", "idempotency: { maxKeyLength: 50 }"), {});
    const paths = profile.applied.map((d) => d.path);
    expect(paths).toContain("idempotency.header");
    expect(paths).toContain("idempotency.exempt");
    expect(paths).not.toContain("idempotency.maxKeyLength");
    expect(profile.applied).toContainEqual({ path: "upstream.requestId.header", value: "paypal-debug-id" });
    expect(loadConfigText(yaml("http://127.0.0.1:1"), {}).profile.applied).toEqual([]);
  });

  it("the exempt paths are never keyed, whatever the route's mode", () => {
    const route = compileRoutes(parseConfig(yaml("https://api-m.sandbox.paypal.com"), {})).match("POST", "/v1/oauth2/token");
    expect(route.exempt("/v1/oauth2/token")).toBe(true);
    expect(route.exempt("/v2/checkout/orders")).toBe(false);
  });

  it('upstreamKey "body" needs the body field it names, at the top level and in routes', () => {
    const problems = (extra: string) => {
      try {
        parseConfig(yaml("http://gw", extra), {});
        return [];
      } catch (err) {
        if (isConfigError(err)) return err.problems;
        throw err;
      }
    };
    expect(problems("idempotency: { upstreamKey: body }")).toEqual([expect.stringMatching(/^idempotency\.upstreamKey: is "body": idempotency\.bodyField/)]);
    expect(problems("routes: [{ path: /x, idempotency: { upstreamKey: body } }]")).toEqual([expect.stringMatching(/^routes\[0\]\.idempotency\.upstreamKey:/)]);
    expect(problems("idempotency: { upstreamKey: body, bodyField: /key }")).toEqual([]);
    expect(problems("idempotency: { bodyField: idempotency_key }")).toEqual([
      expect.stringMatching(/^idempotency\.bodyField: must be a JSON pointer to a member/),
    ]);
  });
});

const CODES = Object.keys(PROBLEMS).filter((c) => !c.startsWith("admin_") && c !== "record_not_found" && c !== "record_not_resolvable") as ProblemCode[];
const REQUEST_ID = "9b2f0c1e-6a4d-4c1a-9f0e-2d3b4c5d6e7f";

function answer(gateway: GatewayName, code: ProblemCode, resendSafe = false, mayHaveHappened = false) {
  const { status, headers, body } = problemResponse(new ProxyError(code, code === "upstream_timeout" ? "after 3 attempts" : undefined), {
    requestId: REQUEST_ID,
    resendSafe,
    mayHaveHappened,
    profile: profileOf(gateway),
  });
  return { status, headers, doc: JSON.parse(body) as Record<string, unknown> };
}

describe("answers payguard makes itself", () => {
  it.each(GATEWAYS)("%s: every RFC 9457 member is the one generic sends, unchanged", (gateway) => {
    for (const code of CODES) {
      const plain = answer("generic", code).doc;
      const wrapped = answer(gateway, code);
      // checkout-sdk-node drops a 502's body: under its profile payguard's 502s are 500s.
      const status = gateway === "checkout" && PROBLEMS[code].status === 502 ? 500 : PROBLEMS[code].status;
      expect(wrapped.status, `${gateway} ${code}`).toBe(status);
      expect(wrapped.doc.status, `${gateway} ${code}: the document's status is the answer's`).toBe(status);
      expect(wrapped.headers["content-type"]).toBe("application/problem+json");
      for (const member of ["type", "title", "code", "detail", "instance", "retryable", "requestId", "outcome"]) {
        expect(wrapped.doc[member], `${gateway} ${code} ${member}`).toEqual(plain[member]);
      }
    }
  });

  it("generic is pure problem+json: instance is the request id as a urn:uuid, retryable a boolean", () => {
    expect(answer("generic", "idempotency_key_in_use").doc).toEqual({
      type: "urn:payguard:problem:idempotency_key_in_use",
      title: PROBLEMS.idempotency_key_in_use.title,
      status: 409,
      code: "idempotency_key_in_use",
      instance: `urn:uuid:${REQUEST_ID}`,
      retryable: true,
      requestId: REQUEST_ID,
      outcome: "unknown",
    });
  });

  it("a client's own request id that is no UUID still makes a valid URI", () => {
    const { body } = problemResponse(new ProxyError("overloaded"), {
      requestId: "order 42/a",
      resendSafe: true,
      mayHaveHappened: false,
      profile: profileOf("generic"),
    });
    expect(JSON.parse(body).instance).toBe("urn:payguard:request:order%2042%2Fa");
  });

  it("retryable: true for in flight, overloaded, breaker open, store unavailable; false for key problems and an unknown outcome", () => {
    const retryable = (code: ProblemCode, resendSafe = false) => answer("generic", code, resendSafe).doc.retryable;
    for (const code of ["idempotency_key_in_use", "overloaded", "circuit_open", "store_unavailable", "upstream_unreachable", "shutting_down"] as const) {
      expect(retryable(code), code).toBe(true);
    }
    for (const code of ["idempotency_key_missing", "idempotency_key_invalid", "idempotency_key_reused", "outcome_indeterminate"] as const) {
      expect(retryable(code, true), code).toBe(false);
    }
    // Sent, no answer: retryable only when a re-send cannot charge twice.
    expect(retryable("upstream_timeout", false)).toBe(false);
    expect(retryable("upstream_timeout", true)).toBe(true);
  });

  it("stripe: an `error` object stripe-node raises, Stripe-Should-Retry as retryable, Request-Id as payguard's", () => {
    const inUse = answer("stripe", "idempotency_key_in_use");
    expect(inUse.doc.error).toEqual({
      type: "idempotency_error",
      code: "idempotency_key_in_use",
      message: expect.stringContaining("idempotency_key_in_use"),
      outcome: "unknown",
    });
    expect(inUse.headers).toMatchObject({ "stripe-should-retry": "true", "request-id": REQUEST_ID });
    expect(answer("stripe", "idempotency_key_reused").headers["stripe-should-retry"]).toBe("false");
    expect(answer("stripe", "outcome_indeterminate").headers["stripe-should-retry"]).toBe("false");
    expect((answer("stripe", "circuit_open").doc.error as { type: string }).type).toBe("api_error");
    expect((answer("stripe", "idempotency_key_missing").doc.error as { type: string }).type).toBe("invalid_request_error");
  });

  it("adyen: errorCode, message, errorType and Transient-Error", () => {
    const unknown = answer("adyen", "outcome_indeterminate");
    expect(unknown.doc).toMatchObject({ status: 502, errorCode: "outcome_indeterminate", errorType: "internal" });
    expect(unknown.headers["transient-error"]).toBe("false");
    expect(answer("adyen", "idempotency_key_in_use").headers["transient-error"]).toBe("true");
    expect(answer("adyen", "idempotency_key_reused").doc.errorType).toBe("validation");
  });

  it("paypal: name, message, debug_id and details[].issue", () => {
    const doc = answer("paypal", "idempotency_key_in_use").doc;
    expect(doc).toMatchObject({ name: "RESOURCE_CONFLICT", debug_id: REQUEST_ID, details: [{ issue: "IDEMPOTENCY_KEY_IN_USE" }] });
    expect(answer("paypal", "upstream_timeout").doc.name).toBe("INTERNAL_SERVER_ERROR");
    expect(answer("paypal", "idempotency_key_in_use").headers["paypal-debug-id"]).toBe(REQUEST_ID);
  });

  it("square: errors[] with Square's category and code, payguard's code in detail", () => {
    expect(answer("square", "idempotency_key_reused").doc.errors).toEqual([
      { category: "INVALID_REQUEST_ERROR", code: "IDEMPOTENCY_KEY_REUSED", detail: expect.stringMatching(/^idempotency_key_reused: /) },
    ]);
    expect(answer("square", "idempotency_key_missing").doc.errors).toEqual([
      expect.objectContaining({ code: "MISSING_REQUIRED_PARAMETER", field: "idempotency_key" }),
    ]);
    expect(answer("square", "upstream_timeout").doc.errors).toEqual([expect.objectContaining({ category: "API_ERROR", code: "GATEWAY_TIMEOUT" })]);
  });

  it("checkout: request_id, error_type and error_codes", () => {
    expect(answer("checkout", "idempotency_key_reused").doc).toMatchObject({
      request_id: REQUEST_ID,
      error_type: "request_invalid",
      error_codes: ["idempotency_key_reused"],
    });
    expect(answer("checkout", "circuit_open").doc.error_type).toBe("payguard_error");
  });
});

/** Where each profile's SDK lets its caller read the outcome (docs/gateways.md, "Unknown outcomes"). */
const OUTCOME_IN_ENVELOPE: Record<GatewayName, (doc: Record<string, unknown>) => unknown> = {
  generic: (doc) => doc.outcome,
  stripe: (doc) => (doc.error as { outcome?: unknown }).outcome,
  adyen: (doc) => doc.outcome,
  paypal: (doc) => doc.outcome,
  square: (doc) => (doc.errors as { outcome?: unknown }[])[0]?.outcome,
  checkout: (doc) => doc.outcome,
};

describe("outcome: unknown", () => {
  const SENT_NO_ANSWER = ["upstream_reset", "upstream_timeout", "upstream_error", "internal_error"] as const;

  it.each(GATEWAYS)(
    "%s: on every answer after the request may have reached the gateway, in the document, the envelope and a header — whatever the cause",
    (gateway) => {
      for (const code of SENT_NO_ANSWER) {
        for (const resendSafe of [false, true]) {
          const { doc, headers } = answer(gateway, code, resendSafe, true);
          expect(doc.outcome, `${gateway} ${code}`).toBe("unknown");
          expect(OUTCOME_IN_ENVELOPE[gateway](doc), `${gateway} ${code}: the envelope`).toBe("unknown");
          expect(headers["payguard-outcome"], `${gateway} ${code}`).toBe("unknown");
          // With the upstream key on every attempt both are true: a re-send cannot charge twice, and this outcome is unknown.
          expect(doc.retryable, `${gateway} ${code}`).toBe(resendSafe);
        }
      }
    },
  );

  it.each(GATEWAYS)("%s: on a repeat of an unknown outcome and on a duplicate still in flight, which never reached the gateway themselves", (gateway) => {
    for (const code of ["outcome_indeterminate", "idempotency_key_in_use"] as const) {
      const { doc, headers } = answer(gateway, code);
      expect(OUTCOME_IN_ENVELOPE[gateway](doc), `${gateway} ${code}`).toBe("unknown");
      expect(headers["payguard-outcome"]).toBe("unknown");
    }
  });

  it.each(GATEWAYS)("%s: never on an answer for a request that did not reach the gateway", (gateway) => {
    for (const code of CODES.filter((c) => c !== "outcome_indeterminate" && c !== "idempotency_key_in_use")) {
      const { doc, headers } = answer(gateway, code, true, false);
      expect(doc.outcome, `${gateway} ${code}`).toBeUndefined();
      expect(OUTCOME_IN_ENVELOPE[gateway](doc), `${gateway} ${code}`).toBeUndefined();
      expect(headers["payguard-outcome"], `${gateway} ${code}`).toBeUndefined();
    }
  });
});
