/**
 * Events settle the outcome ledger, on SQLite and on PostgreSQL: a payment left indeterminate
 * (the connection reset after the gateway charged, no upstream key) gets a `settled-by-event`
 * row with `succeeded` when Adyen's AUTHORISATION names its reference; a Stripe payment is
 * found by its Request-Id and by the key payguard forwarded, and refunded; a pending Square
 * payment is settled by its payment.updated (reference_id), and refunded by id (its answer's
 * /payment/id); an event naming no
 * payment, or a redelivered one, appends nothing.
 */
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hmacValidator } from "@adyen/api-library";
import Database from "better-sqlite3";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LedgerEntry } from "../../src/store/types.js";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { json, send } from "../support/http.js";
import { type Running, startInProcessYaml } from "../support/payguard.js";
import { paypalHeaders } from "../support/paypal.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";
import { makeTestCa } from "../support/test-ca.js";
import { until } from "../support/until.js";

const STRIPE_SECRET = "whsec_ledger_events_0123456789";
const ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const CKO_KEY = "cko_webhook_signature_key_for_tests";
const SQUARE_KEY = "square_signature_key_for_tests";
const SQUARE_URL = "https://payguard.example.com/webhooks/square";
// PayPal signs with its own RSA key: a test certificate stands in for it, pinned as PayPal's would be
const PAYPAL = makeTestCa("rsa", "messageverificationcerts.sandbox.paypal.com");
const PAYPAL_WEBHOOK_ID = "8PT597110X687430LKGECATA";
const stripe = new Stripe("sk_test_ledger_events");
const schemas = useDroppedSchemas();
const SQLITE_FILE = join(mkdtempSync(join(tmpdir(), "payguard-events-")), "payguard.db");
const STORES = {
  sqlite: () => `store: { type: sqlite, path: "${SQLITE_FILE}" }`,
  postgres: () => {
    const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    schemas.push(schema);
    return `store: { type: postgres, url: "${SHARED_POSTGRES}", postgres: { schema: ${schema} }, journal: { dir: "${mkdtempSync(join(tmpdir(), "payguard-journal-"))}" } }`;
  },
};

for (const [type, store] of Object.entries(STORES)) {
  describe(`events settle the ledger (${type})`, () => {
    let stripeGw: FakeGateway;
    let adyenGw: FakeGateway;
    let ckoGw: FakeGateway;
    let squareGw: FakeGateway;
    let paypalGw: FakeGateway;
    let pg: Running;
    beforeAll(async () => {
      [stripeGw, adyenGw, ckoGw, squareGw, paypalGw] = await Promise.all([
        startFakeGateway(),
        startFakeGateway(),
        startFakeGateway(),
        startFakeGateway(),
        startFakeGateway(),
      ]);
      pg = await startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 2s }
${store()}
resilience: { retry: { maxAttempts: 1 } }
gateways:
  stripe: { url: "${stripeGw.url}", port: 0, upstream: { gateway: stripe } }
  adyen: { url: "${adyenGw.url}", port: 0, upstream: { gateway: adyen }, idempotency: { upstreamKey: false } }
  checkout: { url: "${ckoGw.url}", port: 0, upstream: { gateway: checkout } }
  square: { url: "${squareGw.url}", port: 0, upstream: { gateway: square } }
  paypal: { url: "${paypalGw.url}", port: 0, upstream: { gateway: paypal } }
webhooks:
  host: 127.0.0.1
  port: 0
  delivery: { poll: 1h, lease: 2h }
  lateMatch: { every: 50ms }
  endpoints:
    - { gateway: stripe, path: /webhooks/stripe, secret: "${STRIPE_SECRET}", deliverTo: "http://127.0.0.1:9/stripe" }
    - { gateway: adyen, path: /webhooks/adyen, secret: "${ADYEN_KEY}", deliverTo: "http://127.0.0.1:9/adyen" }
    - { gateway: checkout, path: /webhooks/checkout, secret: "${CKO_KEY}", deliverTo: "http://127.0.0.1:9/checkout" }
    - { gateway: square, path: /webhooks/square, secret: "${SQUARE_KEY}", deliverTo: "http://127.0.0.1:9/square", notificationUrl: "${SQUARE_URL}" }
    - { gateway: paypal, path: /webhooks/paypal, deliverTo: "http://127.0.0.1:9/paypal", webhookId: ${PAYPAL_WEBHOOK_ID}, certificate: "${PAYPAL.certPath}" }
`);
    });
    afterAll(async () => {
      await pg?.close();
      await stripeGw?.close();
      await adyenGw?.close();
      await ckoGw?.close();
      await squareGw?.close();
      await paypalGw?.close();
    });

    const ledger = async (record: string) =>
      ((await pg.pg.deps.store.outcomes?.({ since: 0, limit: 1000 }))?.outcomes ?? []).filter((o) => o.record === record) as LedgerEntry[];
    const pay = (gateway: string, key: string, body: object) =>
      send(pg.pg.gatewayUrls[gateway] as string, { adyen: "/v71/payments", checkout: "/payments", square: "/v2/payments" }[gateway] ?? "/v1/payment_intents", {
        method: "POST",
        headers: { "content-type": "application/json", [gateway === "checkout" ? "cko-idempotency-key" : "idempotency-key"]: key },
        body: JSON.stringify(body),
      });
    const adyenEvent = (item: Record<string, unknown>) => {
      const signed = { ...item, additionalData: { hmacSignature: new hmacValidator().calculateHmac(item as never, ADYEN_KEY) } };
      return send(pg.pg.webhookUrl as string, "/webhooks/adyen", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ live: "false", notificationItems: [{ NotificationRequestItem: signed }] }),
      });
    };
    const stripeEvent = (event: object) => {
      const payload = JSON.stringify(event);
      const header = stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET });
      return send(pg.pg.webhookUrl as string, "/webhooks/stripe", {
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": header },
        body: payload,
      });
    };

    it("an indeterminate Adyen payment (reset after the charge, no upstream key) is settled succeeded by its AUTHORISATION event", async () => {
      const reference = `order-${randomUUID().slice(0, 8)}`;
      const key = randomUUID();
      adyenGw.script({ destroy: "now" });
      const answer = await pay("adyen", key, { reference, amount: { currency: "EUR", value: 1000 }, merchantAccount: "M" });
      expect(answer.status).toBe(502);
      const [indeterminate] = await ledger(((await ledgerByLink(reference)) as LedgerEntry).record);
      expect(indeterminate).toMatchObject({ state: "indeterminate", gateway: "adyen", link: reference });
      const item = {
        pspReference: "PSP_LATE",
        merchantAccountCode: "M",
        merchantReference: reference,
        amount: { currency: "EUR", value: 1000 },
        eventCode: "AUTHORISATION",
        success: "true",
      };
      expect((await adyenEvent(item)).status).toBe(200);
      const rows = await ledger(indeterminate?.record as string);
      expect(rows.map((r) => [r.state, r.outcome, r.eventId])).toEqual([
        ["indeterminate", undefined, undefined],
        ["settled-by-event", "succeeded", "AUTHORISATION:PSP_LATE:true"],
      ]);
      // the redelivered event appends nothing
      expect((await adyenEvent(item)).status).toBe(200);
      expect(await ledger(indeterminate?.record as string)).toHaveLength(2);
      // the client's repeat still gets the indeterminate answer: the ledger, not the record, holds what the event said
      expect(json(await pay("adyen", key, { reference, amount: { currency: "EUR", value: 1000 }, merchantAccount: "M" }))).toMatchObject({ status: 502 });
      if (type === "sqlite") {
        // the query docs/webhooks.md gives operators, on the file
        const doc = readFileSync(new URL("../../docs/webhooks.md", import.meta.url), "utf8");
        const query = /```sql sqlite\n([\s\S]*?)```/.exec(doc)?.[1] as string;
        const db = new Database(SQLITE_FILE, { readonly: true });
        try {
          expect(db.prepare(query).all()).toContainEqual(
            expect.objectContaining({ link: reference, outcome: "succeeded", event_id: "AUTHORISATION:PSP_LATE:true" }),
          );
        } finally {
          db.close();
        }
      }
    });

    /**
     * An Adyen payment held at the gateway while its AUTHORISATION arrives (naming no payment
     * yet: no ledger row before the attempt ends), then reset: flagged indeterminate. Its record.
     */
    async function earlyEventThenIndeterminate(reference: string, pspReference: string): Promise<string> {
      let release = () => {};
      adyenGw.script(steps.held(new Promise<void>((resolve) => (release = resolve)), { destroy: "now" }));
      const amount = { currency: "EUR", value: 700 };
      const paying = pay("adyen", randomUUID(), { reference, amount, merchantAccount: "M" });
      await until(() => adyenGw.requests.some((r) => r.body.toString().includes(reference)), "the payment is at the gateway");
      const item = { pspReference, merchantAccountCode: "M", merchantReference: reference, amount, eventCode: "AUTHORISATION", success: "true" };
      expect((await adyenEvent(item)).status).toBe(200);
      expect(await ledgerByLink(reference)).toBeUndefined();
      release();
      expect((await paying).status).toBe(502);
      return ((await ledgerByLink(reference)) as LedgerEntry).record;
    }

    it("an event that comes while payguard still waits on the gateway settles the payment once it is flagged indeterminate, once", async () => {
      const record = await earlyEventThenIndeterminate(`early-${randomUUID().slice(0, 8)}`, `PSP_EARLY_${type}`);
      await until(async () => (await ledger(record)).length === 2, "the waiting event settled it", 5000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const rows = await ledger(record);
      expect(rows.map((r) => [r.state, r.outcome, r.eventId])).toEqual([
        ["indeterminate", undefined, undefined],
        ["settled-by-event", "succeeded", `AUTHORISATION:PSP_EARLY_${type}:true`],
      ]);
      expect(rows[1]?.settledAt).toBeGreaterThanOrEqual(rows[0]?.settledAt as number);
    });

    it("hundreds of events waiting for payments that never come do not starve a new one: every waiting event gets its turn", async () => {
      const inbox = pg.pg.deps.store.webhooks as NonNullable<typeof pg.pg.deps.store.webhooks>;
      const now = Date.now();
      for (let i = 0; i < 250; i++) {
        const event = {
          gateway: "adyen",
          eventId: `AUTHORISATION:NEVER_${type}_${i}:true`,
          endpoint: "/webhooks/adyen",
          receivedAt: now,
          body: Buffer.from("{}"),
          headers: {},
        };
        await inbox.accept(event, { outcome: "succeeded", links: [`never-${i}`], requestIds: [], replica: "r", matchUntil: now + 3_600_000 });
      }
      const record = await earlyEventThenIndeterminate(`starved-${randomUUID().slice(0, 8)}`, `PSP_LAST_${type}`);
      await until(async () => (await ledger(record)).length === 2, "the newest waiting event settled it", 5000);
    });

    it("a Stripe payment is found by its Request-Id (succeeded) and by the key payguard forwarded (refunded)", async () => {
      const key = randomUUID();
      const requestId = `req_${randomUUID().slice(0, 8)}`;
      stripeGw.script(steps.json(200, { id: "pi_settled", object: "payment_intent", status: "processing" }, { "request-id": requestId }));
      expect((await pay("stripe", key, { amount: 1000 })).status).toBe(200);
      const record = ((await ledgerByLink(key)) as LedgerEntry).record;
      expect(
        (await stripeEvent({ id: `evt_${randomUUID().slice(0, 8)}`, type: "payment_intent.succeeded", request: { id: requestId, idempotency_key: null } }))
          .status,
      ).toBe(200);
      expect((await stripeEvent({ id: `evt_${randomUUID().slice(0, 8)}`, type: "charge.refunded", request: { id: null, idempotency_key: key } })).status).toBe(
        200,
      );
      expect((await ledger(record)).map((r) => [r.state, r.outcome])).toEqual([
        ["completed", undefined],
        ["settled-by-event", "succeeded"],
        ["settled-by-event", "refunded"],
      ]);
    });

    it("a Checkout.com payment (with its upstream key) is found by its reference: payment_captured settles it succeeded", async () => {
      const reference = `cko-${randomUUID().slice(0, 8)}`;
      ckoGw.script(steps.json(202, { id: "pay_pending", status: "Pending", reference }));
      expect((await pay("checkout", randomUUID(), { reference, amount: 1000, currency: "EUR" })).status).toBe(202);
      const record = ((await ledgerByLink(reference)) as LedgerEntry).record;
      const payload = JSON.stringify({ id: `evt_${randomUUID().slice(0, 8)}`, type: "payment_captured", data: { id: "pay_pending", reference } });
      // checkout-sdk-node has no signer: the documented hex HMAC-SHA256 of the raw body
      const signature = createHmac("sha256", CKO_KEY).update(payload).digest("hex");
      const answer = await send(pg.pg.webhookUrl as string, "/webhooks/checkout", {
        method: "POST",
        headers: { "content-type": "application/json", "cko-signature": signature },
        body: payload,
      });
      expect(answer.status).toBe(200);
      expect((await ledger(record)).map((r) => [r.state, r.outcome])).toEqual([
        ["completed", undefined],
        ["settled-by-event", "succeeded"],
      ]);
    });

    const squareEvent = (type: string, object: object) => {
      const payload = JSON.stringify({ merchant_id: "M", type, event_id: randomUUID(), data: { type: type.split(".")[0], object } });
      // the square SDK exports no signer: base64 HMAC-SHA256 over the registered URL + body (unit-tested against its verifySignature)
      const signature = createHmac("sha256", SQUARE_KEY)
        .update(SQUARE_URL + payload)
        .digest("base64");
      return send(pg.pg.webhookUrl as string, "/webhooks/square", {
        method: "POST",
        headers: { "content-type": "application/json", "x-square-hmacsha256-signature": signature },
        body: payload,
      });
    };

    it("Square: a pending payment is settled by payment.updated (its reference_id); an answered one is refunded by its payment id", async () => {
      const body = (reference_id: string) => ({
        idempotency_key: randomUUID(),
        source_id: "cnon:card-nonce-ok",
        reference_id,
        amount_money: { amount: 100, currency: "USD" },
      });
      const squarePay = (json: object) =>
        send(pg.pg.gatewayUrls.square as string, "/v2/payments", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(json),
        });
      const reference = `sq-${randomUUID().slice(0, 8)}`;
      squareGw.script(steps.json(200, { payment: { id: "pay_sq_pending", status: "PENDING" } }));
      expect((await squarePay(body(reference))).status).toBe(200);
      const pending = ((await ledgerByLink(reference)) as LedgerEntry).record;
      expect((await squareEvent("payment.updated", { payment: { id: "pay_sq_pending", status: "COMPLETED", reference_id: reference } })).status).toBe(200);
      expect((await ledger(pending)).map((r) => [r.state, r.outcome])).toEqual([
        ["completed", undefined],
        ["settled-by-event", "succeeded"],
      ]);

      squareGw.script(steps.json(200, { payment: { id: "pay_sq_ok", status: "COMPLETED" } }));
      expect((await squarePay(body(`sq-${randomUUID().slice(0, 8)}`))).status).toBe(200);
      const outcomes = (await pg.pg.deps.store.outcomes?.({ since: 0, limit: 1000 }))?.outcomes ?? [];
      const answered = outcomes.find((o) => o.gatewayRequestId === "pay_sq_ok") as LedgerEntry;
      expect((await squareEvent("refund.updated", { refund: { id: "r_1", payment_id: "pay_sq_ok", status: "COMPLETED" } })).status).toBe(200);
      expect((await ledger(answered.record)).map((r) => [r.state, r.outcome])).toEqual([
        ["completed", undefined],
        ["settled-by-event", "refunded"],
      ]);
    });

    it("PayPal: an order created through payguard is settled by its capture event, found by the purchase unit's custom_id", async () => {
      const customId = `pp-${randomUUID().slice(0, 8)}`;
      paypalGw.script(steps.json(201, { id: "5O190127TN364715T", status: "CREATED", intent: "CAPTURE" }, { "paypal-debug-id": "f1d2c3" }));
      const order = { intent: "CAPTURE", purchase_units: [{ custom_id: customId, amount: { currency_code: "USD", value: "10.00" } }] };
      const created = await send(pg.pg.gatewayUrls.paypal as string, "/v2/checkout/orders", {
        method: "POST",
        headers: { "content-type": "application/json", "paypal-request-id": randomUUID() },
        body: JSON.stringify(order),
      });
      expect(created.status).toBe(201);
      const record = ((await ledgerByLink(customId)) as LedgerEntry).record;
      const payload = JSON.stringify({
        id: `WH-${randomUUID()}`,
        event_type: "PAYMENT.CAPTURE.COMPLETED",
        resource: { id: "3C679366HH908993F", custom_id: customId },
      });
      const answer = await send(pg.pg.webhookUrl as string, "/webhooks/paypal", {
        method: "POST",
        headers: paypalHeaders(payload, PAYPAL.key, PAYPAL_WEBHOOK_ID),
        body: payload,
      });
      expect(answer.status).toBe(200);
      expect((await ledger(record)).map((r) => [r.state, r.outcome])).toEqual([
        ["completed", undefined],
        ["settled-by-event", "succeeded"],
      ]);
    });

    it("an event naming no payment payguard forwarded, or of a type that settles nothing, appends nothing", async () => {
      const before = (await pg.pg.deps.store.outcomes?.({ since: 0, limit: 1000 }))?.outcomes.length;
      await stripeEvent({
        id: `evt_${randomUUID().slice(0, 8)}`,
        type: "payment_intent.succeeded",
        request: { id: "req_unknown", idempotency_key: "never-sent" },
      });
      await stripeEvent({ id: `evt_${randomUUID().slice(0, 8)}`, type: "customer.created", request: { id: "req_unknown" } });
      expect((await pg.pg.deps.store.outcomes?.({ since: 0, limit: 1000 }))?.outcomes.length).toBe(before);
    });

    async function ledgerByLink(link: string): Promise<LedgerEntry | undefined> {
      return ((await pg.pg.deps.store.outcomes?.({ since: 0, limit: 1000 }))?.outcomes ?? []).find((o) => o.link === link);
    }
  });
}
