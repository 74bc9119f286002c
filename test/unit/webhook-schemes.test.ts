/**
 * The webhook signature schemes against the gateways' own helpers: events signed by stripe-node
 * (`webhooks.generateTestHeaderString`) and @adyen/api-library (`hmacValidator.calculateHmac`)
 * verify; a changed byte, another secret, a stale timestamp or a missing signature is refused;
 * payguard's re-signed Stripe header passes stripe-node's own `constructEvent`.
 */

import { createHmac } from "node:crypto";
import { hmacValidator } from "@adyen/api-library";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { adyenSettlements, verifyAdyen } from "../../src/webhooks/schemes/adyen.js";
import { checkoutSettlement, verifyCheckout } from "../../src/webhooks/schemes/checkout.js";
import { signStripe, stripeSettlement, verifyStripe } from "../../src/webhooks/schemes/stripe.js";

const stripe = new Stripe("sk_test_webhooks");
const SECRET = "whsec_test_payguard_0123456789";
const event = Buffer.from(JSON.stringify({ id: "evt_1", type: "payment_intent.succeeded", data: { object: { id: "pi_1" } } }));
const signed = (payload: Buffer, secret = SECRET, timestamp?: number) =>
  stripe.webhooks.generateTestHeaderString({ payload: payload.toString("utf8"), secret, ...(timestamp ? { timestamp } : {}) });

describe("Stripe-Signature", () => {
  const now = Date.now();

  it("an event stripe-node signed verifies, with its id", () => {
    expect(verifyStripe(event, signed(event), SECRET, now)).toEqual({ ok: true, eventIds: ["evt_1"] });
  });

  it("a changed byte, another secret, or no header is refused", () => {
    const changed = Buffer.from(event.toString().replace("pi_1", "pi_2"));
    expect(verifyStripe(changed, signed(event), SECRET, now)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyStripe(event, signed(event, "whsec_other"), SECRET, now)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyStripe(event, undefined, SECRET, now)).toEqual({ ok: false, refusal: "signature_missing" });
    expect(verifyStripe(event, "t=abc,v1=zz", SECRET, now)).toEqual({ ok: false, refusal: "signature_invalid" });
  });

  it("older than 300 s is stale, as stripe-node judges it; one valid v1 among several passes (secret rolling)", () => {
    const t = Math.floor(now / 1000) - 301;
    expect(verifyStripe(event, signed(event, SECRET, t), SECRET, now)).toEqual({ ok: false, refusal: "signature_stale" });
    expect(() => stripe.webhooks.constructEvent(event, signed(event, SECRET, t), SECRET)).toThrow(/tolerance/);
    expect(verifyStripe(event, signed(event, SECRET, t + 2), SECRET, now).ok).toBe(true);
    const rolled = `${signed(event, "whsec_old")},v1=${signed(event).split("v1=")[1]}`;
    expect(verifyStripe(event, rolled, SECRET, now).ok).toBe(true);
  });

  it("a body that is not an event with an id is refused after its signature checks", () => {
    const noId = Buffer.from("{}");
    expect(verifyStripe(noId, signed(noId), SECRET, now)).toEqual({ ok: false, refusal: "payload_invalid" });
  });

  it("payguard's re-signed header for a late delivery passes stripe-node's constructEvent", () => {
    expect(stripe.webhooks.constructEvent(event, signStripe(event, SECRET, Date.now()), SECRET).id).toBe("evt_1");
    expect(() => stripe.webhooks.constructEvent(event, signStripe(event, "whsec_other", Date.now()), SECRET)).toThrow();
  });
});

describe("Adyen hmacSignature", () => {
  // Adyen's own test vector (@adyen/api-library src/__tests__/hmacValidator.spec.ts)
  const KEY = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00";
  const item = (overrides: Record<string, unknown> = {}) => ({
    pspReference: "pspReference",
    originalReference: "originalReference",
    merchantAccountCode: "merchantAccount",
    merchantReference: "reference",
    amount: { currency: "EUR", value: 1000 },
    eventCode: "AUTHORISATION",
    success: "true",
    eventDate: "2026-12-07T10:00:00+01:00",
    ...overrides,
  });
  const signedItem = (fields: Record<string, unknown>, key = KEY) => {
    const hmacSignature = new hmacValidator().calculateHmac(fields as never, key);
    return { ...fields, additionalData: { hmacSignature } };
  };
  const body = (...items: object[]) => Buffer.from(JSON.stringify({ live: "false", notificationItems: items.map((i) => ({ NotificationRequestItem: i })) }));

  it("the official test vector, and items the SDK signed, verify — each with its id", () => {
    const vector = { ...item({ eventCode: "REPORT_AVAILABLE" }), additionalData: { hmacSignature: "ZNBPtI+oDyyRrLyD1XirkKnQgIAlFc07Vj27TeHsDRE=" } };
    expect(verifyAdyen(body(vector), KEY)).toEqual({ ok: true, eventIds: ["REPORT_AVAILABLE:pspReference:true"] });
    const refund = signedItem(item({ eventCode: "REFUND", originalReference: undefined, pspReference: "PSP_REFUND" }));
    expect(verifyAdyen(body(signedItem(item()), refund), KEY)).toEqual({ ok: true, eventIds: ["AUTHORISATION:pspReference:true", "REFUND:PSP_REFUND:true"] });
  });

  it("agrees with the SDK's validateHMAC; a changed signed field, another key, or no signature is refused", () => {
    const tampered = { ...signedItem(item()), amount: { currency: "EUR", value: 100000 } };
    expect(new hmacValidator().validateHMAC(tampered as never, KEY)).toBe(false);
    expect(verifyAdyen(body(tampered), KEY)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyAdyen(body(signedItem(item()), tampered), KEY)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyAdyen(body(signedItem(item(), "00".repeat(32))), KEY)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyAdyen(body(item()), KEY)).toEqual({ ok: false, refusal: "signature_missing" });
    // an unsigned field may change (eventDate is not signed): still the same, valid item
    expect(verifyAdyen(body({ ...signedItem(item()), eventDate: "later" }), KEY).ok).toBe(true);
  });

  it("a body that is not a notification is refused", () => {
    expect(verifyAdyen(Buffer.from("[accepted]"), KEY)).toEqual({ ok: false, refusal: "payload_invalid" });
    expect(verifyAdyen(Buffer.from('{"notificationItems":[]}'), KEY)).toEqual({ ok: false, refusal: "payload_invalid" });
  });
});

describe("Cko-Signature", () => {
  // checkout-sdk-node ships no signer or verifier: signed here as Checkout.com documents it (hex HMAC-SHA256 of the raw body)
  const KEY = "cko_webhook_signature_key";
  const event = Buffer.from(JSON.stringify({ id: "evt_cko_1", type: "payment_captured", data: { id: "pay_1", reference: "order-9" } }));
  const sign = (body: Buffer, key = KEY) => createHmac("sha256", key).update(body).digest("hex");

  it("verifies with its id, in either hex case; a changed byte, another key or no header is refused", () => {
    expect(verifyCheckout(event, sign(event), KEY)).toEqual({ ok: true, eventIds: ["evt_cko_1"] });
    expect(verifyCheckout(event, sign(event).toUpperCase(), KEY).ok).toBe(true);
    expect(verifyCheckout(Buffer.from(event.toString().replace("order-9", "order-8")), sign(event), KEY)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyCheckout(event, sign(event, "another"), KEY)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyCheckout(event, undefined, KEY)).toEqual({ ok: false, refusal: "signature_missing" });
  });

  it("settles by the request's reference: captured succeeded, declined failed, refunded; other types nothing", () => {
    expect(checkoutSettlement(event)).toEqual({ outcome: "succeeded", links: ["order-9"], requestIds: [] });
    const typed = (type: string) => checkoutSettlement(Buffer.from(JSON.stringify({ id: "e", type, data: { reference: "r" } })))?.outcome;
    expect([typed("payment_declined"), typed("payment_refunded"), typed("card_verified")]).toEqual(["failed", "refunded", undefined]);
  });
});

describe("what events settle", () => {
  it("Stripe: by request.idempotency_key (the link) and request.id (the gateway's request id)", () => {
    const body = Buffer.from(JSON.stringify({ id: "evt_1", type: "charge.refunded", request: { id: "req_1", idempotency_key: "key-1" } }));
    expect(stripeSettlement(body)).toEqual({ outcome: "refunded", links: ["key-1"], requestIds: ["req_1"] });
    expect(stripeSettlement(Buffer.from(JSON.stringify({ id: "evt_2", type: "customer.created" })))).toBeUndefined();
  });

  it("Adyen: per item, by merchantReference and by pspReference / originalReference", () => {
    const item = { pspReference: "PSP_R", originalReference: "PSP_P", merchantReference: "order-1", eventCode: "REFUND", success: "true" };
    const body = Buffer.from(
      JSON.stringify({ notificationItems: [{ NotificationRequestItem: item }, { NotificationRequestItem: { ...item, eventCode: "REPORT_AVAILABLE" } }] }),
    );
    expect([...adyenSettlements(body)]).toEqual([["REFUND:PSP_R:true", { outcome: "refunded", links: ["order-1"], requestIds: ["PSP_R", "PSP_P"] }]]);
  });
});
