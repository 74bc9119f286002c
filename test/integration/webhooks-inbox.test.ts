/**
 * The webhook inbox through payguard's webhook listener, on SQLite and on PostgreSQL: a
 * notification signed by the gateway's own helper (stripe-node, @adyen/api-library) is stored,
 * then acknowledged; its redelivery is acknowledged and stored once; a tampered body, another
 * secret, a stale timestamp, an unknown path or an oversized body is refused and stores
 * nothing; a store that cannot take it gets the gateway a 503, not an acknowledgement.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hmacValidator } from "@adyen/api-library";
import Database from "better-sqlite3";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway } from "../support/fake-gateway.js";
import { json, send } from "../support/http.js";
import { metric } from "../support/metrics.js";
import { type Running, startChild, startInProcessYaml, writeTempConfig } from "../support/payguard.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";
import { until } from "../support/until.js";

const STRIPE_SECRET = "whsec_inbox_test_0123456789";
const ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const stripe = new Stripe("sk_test_inbox");
const schemas = useDroppedSchemas();
const STORES = {
  sqlite: () => `store: { type: sqlite, path: "${join(mkdtempSync(join(tmpdir(), "payguard-inbox-")), "payguard.db")}" }`,
  postgres: () => {
    const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    schemas.push(schema);
    return `store: { type: postgres, url: "${SHARED_POSTGRES}", postgres: { schema: ${schema} }, journal: { dir: "${mkdtempSync(join(tmpdir(), "payguard-journal-"))}" } }`;
  },
};

let gw: FakeGateway;
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterAll(async () => {
  await gw?.close();
});

/** payguard on `store`; `delivery`: a webhooks.delivery line (default: the defaults). */
function payguardWith(store: string, extra = "", delivery = ""): Promise<Running> {
  return startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
${store}
gateways:
  stripe: { url: "${gw.url}", upstream: { gateway: stripe } }
  adyen: { url: "${gw.url}", upstream: { gateway: adyen } }
webhooks:
  host: 127.0.0.1
  port: 0
  maxBodySize: 64kb
  ${delivery}
  endpoints:
    - { gateway: stripe, path: /webhooks/stripe, secret: "${STRIPE_SECRET}", deliverTo: "http://127.0.0.1:9/stripe" }
    - { gateway: adyen, path: /webhooks/adyen, secret: "${ADYEN_KEY}", deliverTo: "http://127.0.0.1:9/adyen" }
${extra}`);
}

const stripeEvent = (id = `evt_${randomUUID().slice(0, 8)}`) =>
  JSON.stringify({ id, object: "event", type: "payment_intent.succeeded", data: { object: { id: "pi_1", status: "succeeded" } } });
const stripeHeader = (payload: string, options: { secret?: string; timestamp?: number } = {}) =>
  stripe.webhooks.generateTestHeaderString({
    payload,
    secret: options.secret ?? STRIPE_SECRET,
    ...(options.timestamp ? { timestamp: options.timestamp } : {}),
  });
const post = (pg: Running, path: string, body: string, headers: Record<string, string> = {}) =>
  send(pg.pg.webhookUrl as string, path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

for (const [type, store] of Object.entries(STORES)) {
  describe(`webhook inbox (${type})`, () => {
    let pg: Running;
    beforeAll(async () => {
      pg = await payguardWith(store());
    });
    afterAll(async () => {
      await pg?.close();
    });
    const inbox = () => pg.pg.deps.store.webhooks as NonNullable<typeof pg.pg.deps.store.webhooks>;

    it("a Stripe event signed by stripe-node is stored with its bytes and signature, then acknowledged; its redelivery is acknowledged and stored once", async () => {
      const payload = stripeEvent("evt_inbox_1");
      const header = stripeHeader(payload);
      const first = await post(pg, "/webhooks/stripe", payload, { "stripe-signature": header, authorization: "Basic c2VjcmV0" });
      expect(first.status).toBe(200);
      expect(json(first)).toEqual({ received: true });
      const stored = await inbox().event("stripe", "evt_inbox_1");
      expect(stored).toMatchObject({ gateway: "stripe", eventId: "evt_inbox_1", endpoint: "/webhooks/stripe", state: "pending", attempts: 0 });
      expect(stored?.body.toString()).toBe(payload);
      expect(stored?.headers).toEqual({ "content-type": "application/json", "stripe-signature": header });
      const again = await post(pg, "/webhooks/stripe", payload, { "stripe-signature": stripeHeader(payload) });
      expect(again.status).toBe(200);
      expect((await inbox().event("stripe", "evt_inbox_1"))?.receivedAt).toBe(stored?.receivedAt);
      expect(await metric(pg, "payguard_webhooks_received_total", { gateway: "stripe", result: "stored" })).toBe(1);
      expect(await metric(pg, "payguard_webhooks_received_total", { gateway: "stripe", result: "duplicate" })).toBe(1);
    });

    it("a tampered body, another secret, a stale timestamp or no signature is 400 with its code, and nothing is stored", async () => {
      const payload = stripeEvent("evt_refused");
      const stale = Math.floor(Date.now() / 1000) - 301;
      const cases: [string, Record<string, string>, string][] = [
        [payload.replace("succeeded", "failed"), { "stripe-signature": stripeHeader(payload) }, "webhook_signature_invalid"],
        [payload, { "stripe-signature": stripeHeader(payload, { secret: "whsec_another" }) }, "webhook_signature_invalid"],
        [payload, { "stripe-signature": stripeHeader(payload, { timestamp: stale }) }, "webhook_signature_stale"],
        [payload, {}, "webhook_signature_missing"],
      ];
      for (const [body, headers, code] of cases) {
        const answer = await post(pg, "/webhooks/stripe", body, headers);
        expect(answer.status, code).toBe(400);
        expect(json(answer)).toMatchObject({ code });
      }
      expect(await inbox().event("stripe", "evt_refused")).toBeUndefined();
      expect(await metric(pg, "payguard_webhooks_received_total", { gateway: "stripe", result: "signature_invalid" })).toBe(2);
    });

    it("an Adyen notification signed by @adyen/api-library's HMAC validator is stored per item and acknowledged with [accepted]", async () => {
      const item = {
        pspReference: `PSP${randomUUID().slice(0, 8)}`,
        merchantAccountCode: "PayguardTestMerchant",
        merchantReference: "order-42",
        amount: { currency: "EUR", value: 1000 },
        eventCode: "AUTHORISATION",
        success: "true",
        eventDate: "2026-12-07T10:00:00+01:00",
      };
      const signed = { ...item, additionalData: { hmacSignature: new hmacValidator().calculateHmac(item as never, ADYEN_KEY) } };
      const answer = await post(pg, "/webhooks/adyen", JSON.stringify({ live: "false", notificationItems: [{ NotificationRequestItem: signed }] }));
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe("[accepted]");
      expect(await inbox().event("adyen", `AUTHORISATION:${item.pspReference}:true`)).toMatchObject({ state: "pending" });
      const forged = { ...signed, amount: { currency: "EUR", value: 1 } };
      const refused = await post(pg, "/webhooks/adyen", JSON.stringify({ live: "false", notificationItems: [{ NotificationRequestItem: forged }] }));
      expect(refused.status).toBe(400);
    });

    it("re-delivery: never an event a replica holds (its lease); a range takes only dead or delivered events received in its window, oldest first, up to its limit", async () => {
      const base = 1_000_000; // an endpoint no deliverer here leases, received long ago
      const event = (eventId: string, at: number) => ({
        gateway: "ops",
        eventId,
        endpoint: "/ops-range",
        receivedAt: at,
        body: Buffer.from("{}"),
        headers: {},
      });
      for (let i = 0; i < 5; i++) await inbox().accept(event(`r${i}`, base + i));
      expect(await inbox().lease("/ops-range", "replica-a", base + 10, 60_000, 10)).toHaveLength(5);
      expect(await inbox().redeliver("ops", "r0", base + 20)).toBe(false); // its attempt is under way
      expect(await inbox().redeliver("ops", "r0", base + 60_011)).toBe(true); // the lease ran out
      await inbox().settle({ gateway: "ops", eventId: "r1" }, "replica-a", { state: "dead", at: base + 30, error: "500" });
      await inbox().settle({ gateway: "ops", eventId: "r2" }, "replica-a", { state: "dead", at: base + 30, error: "500" });
      await inbox().settle({ gateway: "ops", eventId: "r3" }, "replica-a", { state: "delivered", at: base + 30 });
      const state = async (id: string) => (await inbox().event("ops", id))?.state;

      expect(await inbox().redeliverRange({ state: "dead", gateway: "ops", receivedFrom: base + 2, receivedTo: base + 5, limit: 10 }, base + 100)).toBe(1);
      expect([await state("r1"), await state("r2")]).toEqual(["dead", "pending"]);
      expect(await inbox().redeliverRange({ state: "dead", gateway: "other", receivedFrom: 0, receivedTo: base + 100, limit: 10 }, base + 100)).toBe(0);
      expect(await inbox().redeliverRange({ state: "delivered", receivedFrom: 0, receivedTo: base + 100, limit: 1 }, base + 100)).toBe(1);
      expect(await state("r3")).toBe("pending");
      // r4 is pending and leased: no range takes it
      expect(await state("r4")).toBe("pending");
      expect((await inbox().event("ops", "r4"))?.nextAttemptAt).toBe(base + 4);
    });

    it("an unknown path is 404; a body over webhooks.maxBodySize is 413; neither stores anything", async () => {
      expect((await post(pg, "/webhooks/other", stripeEvent())).status).toBe(404);
      const big = JSON.stringify({ id: "evt_big", pad: "x".repeat(70 * 1024) });
      const answer = await post(pg, "/webhooks/stripe", big, { "stripe-signature": stripeHeader(big) });
      expect(answer.status).toBe(413);
      expect(json(answer)).toMatchObject({ code: "webhook_too_large" });
      expect(await inbox().event("stripe", "evt_big")).toBeUndefined();
    });
  });
}

describe("with store.encryption", () => {
  it("an event's body is sealed in the SQLite file, bound to its id; it is opened for delivery and the admin API, its marker never leaves the store", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "payguard-inbox-sealed-")), "payguard.db");
    const key = randomBytes(32).toString("base64");
    const pg = await payguardWith(`store: { type: sqlite, path: "${file}", encryption: { key: "${key}" } }`);
    try {
      const payload = JSON.stringify({
        id: "evt_sealed",
        object: "event",
        type: "charge.succeeded",
        data: { object: { billing_details: { email: "jane@example.com" } } },
      });
      expect((await post(pg, "/webhooks/stripe", payload, { "stripe-signature": stripeHeader(payload) })).status).toBe(200);
      const inbox = pg.pg.deps.store.webhooks as NonNullable<typeof pg.pg.deps.store.webhooks>;
      const opened = await inbox.event("stripe", "evt_sealed");
      expect(opened?.body.toString()).toBe(payload);
      expect(Object.keys(opened?.headers ?? {})).toEqual(["content-type", "stripe-signature"]);
      expect((await inbox.list({ gateway: "stripe", limit: 10 })).events.map((e) => e.body.toString())).toEqual([payload]);
      // what the deliverer leases is opened too
      await inbox.accept({ gateway: "stripe", eventId: "evt_leased", endpoint: "/elsewhere", receivedAt: Date.now(), body: Buffer.from(payload), headers: {} });
      expect((await inbox.lease("/elsewhere", "r", Date.now(), 1000, 1)).map((e) => [e.body.toString(), e.headers])).toEqual([[payload, {}]]);
      const db = new Database(file, { readonly: true });
      try {
        const row = db.prepare("SELECT body, headers FROM webhook_events WHERE event_id = 'evt_sealed'").get() as { body: Buffer; headers: string };
        expect(row.body.includes(Buffer.from("jane@example.com"))).toBe(false);
        expect(row.body.includes(Buffer.from("evt_sealed"))).toBe(false);
        expect(JSON.parse(row.headers)).toHaveProperty("payguard-sealed");
      } finally {
        db.close();
      }
    } finally {
      await pg.close();
    }
  });
});

describe("sealed events no configured key opens", () => {
  it("are dead-lettered, never delivered as ciphertext: with another key, and with none", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "payguard-inbox-rekeyed-")), "payguard.db");
    const sealedWith = (key: string) => `store: { type: sqlite, path: "${file}", encryption: { key: "${key}" } }`;
    const fast = "delivery: { poll: 50ms, timeout: 1s, lease: 2s }";
    const first = await payguardWith(sealedWith(randomBytes(32).toString("base64")));
    for (const id of ["evt_rekeyed_1", "evt_rekeyed_2"]) {
      const payload = stripeEvent(id);
      expect((await post(first, "/webhooks/stripe", payload, { "stripe-signature": stripeHeader(payload) })).status).toBe(200);
    }
    await first.close();

    const rekeyed = await payguardWith(sealedWith(randomBytes(32).toString("base64")), "", fast);
    const inbox = () => rekeyed.pg.deps.store.webhooks as NonNullable<typeof rekeyed.pg.deps.store.webhooks>;
    try {
      await until(async () => (await inbox().event("stripe", "evt_rekeyed_1"))?.state === "dead", "dead with another key", 5000);
      expect((await inbox().event("stripe", "evt_rekeyed_1"))?.lastError).toMatch(/cannot be opened with store.encryption's keys/);
    } finally {
      await rekeyed.close();
    }

    const keyless = await payguardWith(`store: { type: sqlite, path: "${file}" }`, "", fast);
    const plain = () => keyless.pg.deps.store.webhooks as NonNullable<typeof keyless.pg.deps.store.webhooks>;
    try {
      expect(await plain().redeliver("stripe", "evt_rekeyed_2", Date.now())).toBe(true);
      await until(async () => (await plain().event("stripe", "evt_rekeyed_2"))?.attempts === 2, "tried without a key", 5000);
      expect(await plain().event("stripe", "evt_rekeyed_2")).toMatchObject({ state: "dead", lastError: expect.stringMatching(/no store.encryption key/) });
    } finally {
      await keyless.close();
    }
  });
});

describe("a store that cannot take the event", () => {
  it("gets the gateway a 503, never an acknowledgement (PostgreSQL unreachable)", async () => {
    const dead = `store: { type: postgres, url: "postgres://payguard@127.0.0.1:9/none", operationTimeout: 300ms, journal: { dir: "${mkdtempSync(join(tmpdir(), "payguard-journal-"))}" } }`;
    const pg = await payguardWith(dead);
    try {
      const payload = stripeEvent();
      const answer = await post(pg, "/webhooks/stripe", payload, { "stripe-signature": stripeHeader(payload) });
      expect(answer.status).toBe(503);
      expect(json(answer)).toMatchObject({ code: "store_unavailable" });
      expect(await metric(pg, "payguard_webhooks_received_total", { gateway: "stripe", result: "store_unavailable" })).toBe(1);
    } finally {
      await pg.close();
    }
  });
});

describe("stored before acknowledged", () => {
  it("payguard SIGKILLed the moment it acknowledged: the event is in the SQLite file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-inbox-kill-"));
    const file = writeTempConfig(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
store: { type: sqlite, path: "${join(dir, "payguard.db")}" }
upstream: { url: "${gw.url}", gateway: stripe }
webhooks:
  host: 127.0.0.1
  port: 0
  endpoints: [ { gateway: default, path: /webhooks/stripe, secret: "${STRIPE_SECRET}", deliverTo: "http://127.0.0.1:9/stripe" } ]
`);
    const child = await startChild(file);
    const payload = stripeEvent("evt_killed");
    const answer = await send(child.webhookUrl as string, "/webhooks/stripe", {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": stripeHeader(payload) },
      body: payload,
    });
    child.proc.kill("SIGKILL");
    await child.exited;
    expect(answer.status).toBe(200);
    const db = new Database(join(dir, "payguard.db"), { readonly: true });
    try {
      const row = db.prepare("SELECT event_id, state, body FROM webhook_events WHERE gateway = 'default'").get() as {
        event_id: string;
        state: string;
        body: Buffer;
      };
      expect(row).toMatchObject({ event_id: "evt_killed", state: "pending" });
      expect(row.body.toString()).toBe(payload);
    } finally {
      db.close();
    }
  });
});
