/**
 * The webhook signature schemes against the gateways' own helpers: events signed by stripe-node
 * (`webhooks.generateTestHeaderString`) and @adyen/api-library (`hmacValidator.calculateHmac`)
 * verify; a changed byte, another secret, a stale timestamp or a missing signature is refused;
 * payguard's re-signed Stripe header passes stripe-node's own `constructEvent`. Square's SDK
 * exports no signer: its signatures are made here with node:crypto, and the SDK's own
 * `WebhooksHelper.verifySignature` proves them (and payguard's re-signed ones) right. PayPal
 * signs with its own RSA key and no current PayPal SDK verifies or signs: a test certificate
 * (openssl) stands in for PayPal's, pinned as an operator pins PayPal's.
 */

import { createHmac, sign } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { hmacValidator } from "@adyen/api-library";
import { WebhooksHelper } from "square";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { adyenSettlements, verifyAdyen } from "../../src/webhooks/schemes/adyen.js";
import { checkoutSettlement, verifyCheckout } from "../../src/webhooks/schemes/checkout.js";
import { paypalSettlement, paypalSignedString, pinnedKeys, TransmissionLog, verifyPaypal } from "../../src/webhooks/schemes/paypal.js";
import { signSquare, squareSettlement, verifySquare } from "../../src/webhooks/schemes/square.js";
import { signStripe, stripeSettlement, verifyStripe } from "../../src/webhooks/schemes/stripe.js";
import { makeTestCa } from "../support/test-ca.js";

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

describe("x-square-hmacsha256-signature", () => {
  const KEY = "square_signature_key_0123";
  const URL = "https://payguard.example.com/webhooks/square";
  const payment = (status: string, extra: Record<string, unknown> = {}) => ({ id: "pay_1", status, reference_id: "order-7", ...extra });
  const event = (type = "payment.updated", object: Record<string, unknown> = { payment: payment("COMPLETED") }) =>
    Buffer.from(JSON.stringify({ merchant_id: "M", type, event_id: "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc", data: { type: "payment", id: "pay_1", object } }));
  // base64(HMAC-SHA256(key, notificationUrl + rawBody)), as Square documents; proven by the SDK below
  const sign = (body: Buffer, key = KEY, url = URL) =>
    createHmac("sha256", key)
      .update(url + body.toString("utf8"))
      .digest("base64");
  const sdkVerifies = (body: Buffer, signatureHeader: string, notificationUrl = URL) =>
    WebhooksHelper.verifySignature({ requestBody: body.toString("utf8"), signatureHeader, signatureKey: KEY, notificationUrl });

  it("the signature Square's SDK accepts verifies, with the event_id; the SDK agrees it is Square's", async () => {
    expect(await sdkVerifies(event(), sign(event()))).toBe(true);
    expect(verifySquare(event(), sign(event()), KEY, URL)).toEqual({ ok: true, eventIds: ["6a8f5f28-54a1-4eb0-a98a-3111513fd4fc"] });
  });

  it("a changed byte, another key, another URL or no header is refused", async () => {
    const changed = Buffer.from(event().toString().replace("order-7", "order-8"));
    expect(verifySquare(changed, sign(event()), KEY, URL)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifySquare(event(), sign(event(), "another"), KEY, URL)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifySquare(event(), sign(event(), KEY, "https://elsewhere.example/hook"), KEY, URL)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(await sdkVerifies(event(), sign(event(), KEY, "https://elsewhere.example/hook"))).toBe(false);
    expect(verifySquare(event(), undefined, KEY, URL)).toEqual({ ok: false, refusal: "signature_missing" });
  });

  it("payguard's signature over the service's own URL passes the SDK's verifySignature there, and only there", async () => {
    const service = "http://127.0.0.1:3000/square/webhook";
    expect(await sdkVerifies(event(), signSquare(event(), KEY, service), service)).toBe(true);
    expect(await sdkVerifies(event(), signSquare(event(), KEY, service), URL)).toBe(false);
  });

  it("settles a payment in a final status by reference_id and id; a completed refund by payment_id; else nothing", () => {
    expect(squareSettlement(event())).toEqual({ outcome: "succeeded", links: ["order-7"], requestIds: ["pay_1"] });
    const status = (s: string) => squareSettlement(event("payment.updated", { payment: payment(s) }))?.outcome;
    expect([status("APPROVED"), status("FAILED"), status("CANCELED"), status("PENDING")]).toEqual(["succeeded", "failed", "failed", undefined]);
    expect(squareSettlement(event("refund.updated", { refund: { id: "r_1", payment_id: "pay_1", status: "COMPLETED" } }))).toEqual({
      outcome: "refunded",
      links: [],
      requestIds: ["pay_1"],
    });
    expect(squareSettlement(event("refund.updated", { refund: { id: "r_1", payment_id: "pay_1", status: "PENDING" } }))).toBeUndefined();
    expect(squareSettlement(event("customer.created", {}))).toBeUndefined();
  });
});

describe("PAYPAL-TRANSMISSION-SIG against a pinned certificate", () => {
  const paypal = makeTestCa("rsa", "messageverificationcerts.sandbox.paypal.com");
  const other = makeTestCa("rsa", "not paypal");
  const WEBHOOK_ID = "8PT597110X687430LKGECATA";
  const body = Buffer.from(
    JSON.stringify({
      id: "WH-2WR32451HC0233532-67976317FL4543714",
      event_type: "PAYMENT.CAPTURE.COMPLETED",
      resource: { id: "42311647XV020574X", custom_id: "order-77" },
    }),
  );
  const SENT = "2026-12-07T19:00:00Z";
  const NOW = Date.parse(SENT) + 2_000;
  const headersFor = (payload: Buffer, key = paypal.key, webhookId = WEBHOOK_ID, id = "c4f40e30-7ec0-11ef-9e8b-1d8e9ae1a1c2") => {
    const time = SENT;
    const signature = sign("sha256", Buffer.from(paypalSignedString(payload, id, time, webhookId)), key).toString("base64");
    return {
      "paypal-transmission-id": id,
      "paypal-transmission-time": time,
      "paypal-transmission-sig": signature,
      "paypal-auth-algo": "SHA256withRSA",
      "paypal-cert-url": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
    };
  };

  it("the signed string is PayPal's: id|time|webhook id|the body's CRC32 as an unsigned decimal", () => {
    // CRC-32 of the classic test sentence is 0x414FA339
    expect(paypalSignedString(Buffer.from("The quick brown fox jumps over the lazy dog"), "t", "2026", "W")).toBe("t|2026|W|1095738169");
    expect(paypalSignedString(Buffer.from("ÿ"), "t", "s", "W")).toMatch(/^t\|s\|W\|\d+$/);
  });

  it("verifies with the pinned certificate's key, with the event's id", () => {
    expect(verifyPaypal(body, headersFor(body), WEBHOOK_ID, pinnedKeys(paypal.cert), NOW)).toEqual({
      ok: true,
      eventIds: ["WH-2WR32451HC0233532-67976317FL4543714"],
    });
  });

  it("a changed byte, another webhook id, a key not pinned, or a missing header is refused; PAYPAL-CERT-URL changes nothing", () => {
    const keys = pinnedKeys(paypal.cert);
    const changed = Buffer.from(body.toString().replace("order-77", "order-78"));
    expect(verifyPaypal(changed, headersFor(body), WEBHOOK_ID, keys, NOW)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyPaypal(body, headersFor(body, paypal.key, "ANOTHER"), WEBHOOK_ID, keys, NOW)).toEqual({ ok: false, refusal: "signature_invalid" });
    expect(verifyPaypal(body, headersFor(body, other.key), WEBHOOK_ID, keys, NOW)).toEqual({ ok: false, refusal: "signature_invalid" });
    const { "paypal-transmission-sig": _, ...unsigned } = headersFor(body);
    expect(verifyPaypal(body, unsigned, WEBHOOK_ID, keys, NOW)).toEqual({ ok: false, refusal: "signature_missing" });
    expect(verifyPaypal(body, { ...headersFor(body, other.key), "paypal-cert-url": "https://evil.example/cert.pem" }, WEBHOOK_ID, keys, NOW).ok).toBe(false);
  });

  it("a bundle pins several certificates (PayPal rotating): either verifies; a file without one is refused at load", () => {
    const bundle = pinnedKeys(`${paypal.cert}\n${other.cert}`);
    expect(verifyPaypal(body, headersFor(body, other.key), WEBHOOK_ID, bundle, NOW).ok).toBe(true);
    const file = join(paypal.dir, "empty.pem");
    writeFileSync(file, "not a certificate");
    expect(() => pinnedKeys("not a certificate")).toThrow(/no PEM certificate/);
  });

  it("older than 300 s is stale; an unknown algorithm name (even an Object prototype's) is refused, not thrown", () => {
    const keys = pinnedKeys(paypal.cert);
    expect(verifyPaypal(body, headersFor(body), WEBHOOK_ID, keys, Date.parse(SENT) + 301_000)).toEqual({ ok: false, refusal: "signature_stale" });
    for (const algo of ["constructor", "toString", "MD5withRSA"])
      expect(verifyPaypal(body, { ...headersFor(body), "paypal-auth-algo": algo }, WEBHOOK_ID, keys, NOW)).toEqual({ ok: false, refusal: "signature_invalid" });
  });

  it("the body is signed only through its CRC32: other bytes with the same CRC pass the signature, so a transmission id seen with other bytes is refused", () => {
    const keys = pinnedKeys(paypal.cert);
    const forged = Buffer.concat([Buffer.from('{"id":"WH-FORGED","event_type":"PAYMENT.CAPTURE.COMPLETED"}'), Buffer.alloc(4)]);
    forged.set(crcSuffix(forged.subarray(0, -4), crc32(body)), forged.length - 4);
    expect(crc32(forged)).toBe(crc32(body));
    // the signature alone lets it through (it is not JSON here, so it fails later, as payload_invalid)
    expect(verifyPaypal(forged, headersFor(body), WEBHOOK_ID, keys, NOW)).toEqual({ ok: false, refusal: "payload_invalid" });
    const log = new TransmissionLog();
    expect(verifyPaypal(body, headersFor(body), WEBHOOK_ID, keys, NOW, log).ok).toBe(true);
    expect(verifyPaypal(body, headersFor(body), WEBHOOK_ID, keys, NOW, log).ok).toBe(true); // the same transmission again: a duplicate, fine
    expect(verifyPaypal(forged, headersFor(body), WEBHOOK_ID, keys, NOW, log)).toEqual({ ok: false, refusal: "signature_invalid" });
    // once the window has passed, the transmission is stale anyway
    expect(verifyPaypal(forged, headersFor(body), WEBHOOK_ID, keys, Date.parse(SENT) + 301_000, log)).toEqual({ ok: false, refusal: "signature_stale" });
  });

  it("settles by the purchase unit's custom_id: capture completed succeeded, denied failed, refunded; other types nothing", () => {
    expect(paypalSettlement(body)).toEqual({ outcome: "succeeded", links: ["order-77"], requestIds: [] });
    const typed = (event_type: string) => paypalSettlement(Buffer.from(JSON.stringify({ id: "WH-1", event_type, resource: { custom_id: "c" } })))?.outcome;
    expect([typed("PAYMENT.CAPTURE.DENIED"), typed("PAYMENT.CAPTURE.REFUNDED"), typed("CHECKOUT.ORDER.APPROVED")]).toEqual(["failed", "refunded", undefined]);
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

/** Four bytes that, appended to `prefix`, give the CRC-32 `want` (the CRC is linear: the classic table inversion). */
function crcSuffix(prefix: Buffer, want: number): Buffer {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const byTopByte = new Map(table.map((value, index) => [value >>> 24, index]));
  let reg = (want ^ 0xffffffff) >>> 0;
  const indexes: number[] = [];
  for (let k = 0; k < 4; k++) {
    const index = byTopByte.get(reg >>> 24) as number;
    indexes.unshift(index);
    reg = ((reg ^ (table[index] as number)) << 8) >>> 0;
  }
  let state = (crc32(prefix) ^ 0xffffffff) >>> 0;
  const bytes = indexes.map((index) => {
    const byte = (state ^ index) & 0xff;
    state = ((state >>> 8) ^ (table[(state ^ byte) & 0xff] as number)) >>> 0;
    return byte;
  });
  return Buffer.from(bytes);
}
