/** The ledger's link is what the gateway's events echo of the request: Stripe the key it saw, Adyen and Checkout.com the body's reference. */
import { describe, expect, it } from "vitest";
import { linkOf } from "../../src/idempotency/link.js";

const body = Buffer.from(JSON.stringify({ reference: "order-42", amount: { value: 1000 } }));
const json = "application/json";

describe("ledger link", () => {
  it("Stripe: the key payguard forwarded, else none", () => {
    expect(linkOf("stripe", "key-1", body, json)).toBe("key-1");
    expect(linkOf("stripe", undefined, body, json)).toBeUndefined();
  });

  it("Adyen and Checkout.com: the body's reference, with or without an upstream key (their events never carry the key)", () => {
    expect(linkOf("adyen", "key-1", body, json)).toBe("order-42");
    expect(linkOf("checkout", undefined, body, json)).toBe("order-42");
    expect(linkOf("adyen", "key-1", Buffer.from("{}"), json)).toBeUndefined();
    expect(linkOf("adyen", "key-1", body, "application/x-www-form-urlencoded")).toBeUndefined();
  });
});
