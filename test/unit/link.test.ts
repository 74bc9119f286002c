/**
 * The ledger's link is what the gateway's events echo of the request (idempotency.ledger.link):
 * Stripe the key it saw, Adyen and Checkout.com the body's reference, Square its reference_id —
 * each profile's default, and any body field where an operator sets one.
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { linkOf } from "../../src/idempotency/link.js";

const body = Buffer.from(JSON.stringify({ reference: "order-42", reference_id: "sq-7", amount: { value: 1000 } }));
const json = "application/json";
const linkSetting = (gateway: string, extra = "") =>
  parseConfig(`gateways:\n  gw: { url: "https://example.com", upstream: { gateway: ${gateway} }${extra} }\n`, {}).gateways[0]?.config.idempotency.ledger.link;

describe("ledger link", () => {
  it("each profile's default: Stripe and generic the key, Adyen and Checkout.com /reference, Square /reference_id, PayPal the first purchase unit's custom_id", () => {
    expect(["stripe", "generic", "adyen", "checkout", "square", "paypal"].map((g) => linkSetting(g))).toEqual([
      "key",
      "key",
      "/reference",
      "/reference",
      "/reference_id",
      "/purchase_units/0/custom_id",
    ]);
    expect(linkSetting("generic", ", idempotency: { ledger: { link: /payment } }")).toBe("/payment");
  });

  it("key: the key payguard forwarded, else none", () => {
    expect(linkOf("key", "key-1", body, json)).toBe("key-1");
    expect(linkOf("key", undefined, body, json)).toBeUndefined();
  });

  it("a body field: its string value, with or without an upstream key (those events never carry the key)", () => {
    expect(linkOf("/reference", "key-1", body, json)).toBe("order-42");
    expect(linkOf("/reference_id", undefined, body, json)).toBe("sq-7");
    const order = Buffer.from(JSON.stringify({ intent: "CAPTURE", purchase_units: [{ custom_id: "order-9", amount: { value: "10.00" } }] }));
    expect(linkOf("/purchase_units/0/custom_id", "key-1", order, json)).toBe("order-9");
    expect(linkOf("/reference", "key-1", Buffer.from("{}"), json)).toBeUndefined();
    expect(linkOf("/amount/value", "key-1", body, json)).toBeUndefined();
    expect(linkOf("/reference", "key-1", body, "application/x-www-form-urlencoded")).toBeUndefined();
  });
});
