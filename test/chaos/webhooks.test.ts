/**
 * Webhooks under faults, end to end with real processes: payments go through payguard first
 * (Stripe ones answered "processing"; Adyen ones reset after sending, so left indeterminate);
 * then a sender posts every event 3× in random order — each copy sent again until payguard
 * answers 2xx, as the gateways do — plus events naming nothing and forged ones, while the
 * service (verifying with stripe-node and @adyen/api-library, unchanged) is down, then slow,
 * then answers 500s, and one payguard replica is SIGKILLed and restarted. On SQLite (one
 * replica) and on PostgreSQL (two):
 * - every valid event reaches the service, verified; no forged one does;
 * - none is delivered again after the service answered 2xx — except one whose 2xx went to
 *   the killed replica in its last instant (the documented at-least-once window: counted, at
 *   most what that replica had in flight);
 * - the ledger rows the events name end in the events' states: one settled-by-event row per
 *   payment, with the event's outcome; events naming nothing add none.
 *
 * WEBHOOK_CHAOS_PAYMENTS (per gateway; default 24).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { hmacValidator } from "@adyen/api-library";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { json, send } from "../support/http.js";
import { type Child, startChild, writeTempConfig } from "../support/payguard.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";
import { until } from "../support/until.js";

const PAYMENTS = Number(process.env.WEBHOOK_CHAOS_PAYMENTS ?? 24);
const STRIPE_SECRET = "whsec_chaos_0123456789abcdef";
const ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const TOKEN = "chaos-admin-token-0123456789abcdef0123";
const stripe = new Stripe("sk_test_chaos");
const schemas = useDroppedSchemas();

type Phase = "down" | "slow" | "failing" | "ok";

/** The service: verifies with the official SDKs; answers as its phase says; records each answer it finished writing. */
class Service {
  phase: Phase = "ok";
  /** answers written out in full (res "finish"), by Payguard-Webhook-Id */
  readonly answers: { id: string; status: number; at: number }[] = [];
  readonly forged: string[] = [];
  private server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => void this.answer(req.url ?? "", req.headers, Buffer.concat(chunks).toString("utf8"), res));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  private async answer(path: string, headers: Record<string, string | string[] | undefined>, raw: string, res: import("node:http").ServerResponse) {
    const id = String(headers["payguard-webhook-id"]);
    if (!verified(path, headers, raw)) {
      this.forged.push(id);
      return void res.writeHead(400).end();
    }
    let status = 200;
    if (this.phase === "slow") await sleep(200 + Math.random() * 400);
    if (this.phase === "failing" && Math.random() < 0.5) status = 500;
    res.once("finish", () => this.answers.push({ id, status, at: Date.now() }));
    res.writeHead(status).end();
  }

  delivered(id: string): number[] {
    return this.answers.filter((a) => a.id === id && a.status === 200).map((a) => a.at);
  }
}

function verified(path: string, headers: Record<string, string | string[] | undefined>, raw: string): boolean {
  if (path === "/adyen") {
    const items = (JSON.parse(raw) as { notificationItems: { NotificationRequestItem: Record<string, unknown> }[] }).notificationItems;
    return items.every((i) => new hmacValidator().validateHMAC(i.NotificationRequestItem as never, ADYEN_KEY));
  }
  try {
    stripe.webhooks.constructEvent(raw, String(headers["stripe-signature"]), STRIPE_SECRET);
    return true;
  } catch {
    return false;
  }
}

/** One notification as a gateway posts it; `sign` is called per post (Stripe signs each delivery afresh). */
interface Post {
  id: string;
  path: string;
  body: string;
  headers(): Record<string, string>;
  valid: boolean;
}

function stripePost(event: Record<string, unknown>, secret = STRIPE_SECRET): Post {
  const body = JSON.stringify({ object: "event", ...event });
  return {
    id: `stripe:${event.id}`,
    path: "/webhooks/stripe",
    body,
    headers: () => ({ "content-type": "application/json", "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload: body, secret }) }),
    valid: secret === STRIPE_SECRET,
  };
}

function adyenPost(item: Record<string, string | object>, tamper = false): Post {
  const hmacSignature = new hmacValidator().calculateHmac(item as never, ADYEN_KEY);
  const sent = tamper ? { ...item, amount: { currency: "EUR", value: 1 } } : item;
  const body = JSON.stringify({ live: "false", notificationItems: [{ NotificationRequestItem: { ...sent, additionalData: { hmacSignature } } }] });
  return {
    id: `adyen:${item.eventCode}:${item.pspReference}:${item.success}`,
    path: "/webhooks/adyen",
    body,
    headers: () => ({ "content-type": "application/json" }),
    valid: !tamper,
  };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** The replicas: their config, the live processes, and SIGKILL + restart of one. */
class Replicas {
  readonly live: (Child | undefined)[] = [];
  killedAt = 0;
  constructor(private readonly configs: string[]) {}

  async start(): Promise<void> {
    for (const config of this.configs) this.live.push(await startChild(config));
  }

  webhookUrls(): string[] {
    return this.live.flatMap((c) => (c?.webhookUrl ? [c.webhookUrl] : []));
  }

  any(): Child {
    return this.live.find((c) => c !== undefined) as Child;
  }

  async killAndRestart(i: number, downMs: number): Promise<void> {
    const child = this.live[i];
    this.live[i] = undefined;
    this.killedAt = Date.now();
    child?.proc.kill("SIGKILL");
    await child?.exited.catch(() => undefined);
    await sleep(downMs);
    this.live[i] = await startChild(this.configs[i] as string);
  }

  async stop(): Promise<void> {
    for (const child of this.live) {
      child?.proc.kill("SIGTERM");
      await child?.exited.catch(() => undefined);
    }
  }
}

/** Posts every copy; a copy not answered 2xx goes to the back of the line and is posted again (to any live replica). */
async function sendAll(posts: Post[], replicas: Replicas, senders: number, spreadMs: number): Promise<{ acknowledged: Set<string>; refused: number }> {
  const queue = [...posts];
  const pace = (senders * spreadMs) / posts.length;
  const acknowledged = new Set<string>();
  let refused = 0;
  const sender = async () => {
    for (let post = queue.shift(); post; post = queue.shift()) {
      const urls = replicas.webhookUrls();
      const url = urls[Math.floor(Math.random() * urls.length)];
      const status = url
        ? await send(url, post.path, { method: "POST", headers: post.headers(), body: post.body }).then(
            (a) => a.status,
            () => 0,
          )
        : 0;
      if (status >= 200 && status < 300) acknowledged.add(post.id);
      else if (status === 400 && !post.valid) refused++;
      else queue.push(post);
      await sleep(status === 0 ? 50 : pace);
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
  return { acknowledged, refused };
}

interface Row {
  record: string;
  state: string;
  link?: string;
  gatewayRequestId?: string;
  outcome?: string;
  eventId?: string;
}

async function ledger(child: Child): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor = "";
  do {
    const page = json(
      await send(child.adminUrl, `/admin/outcomes?since=1970-01-01T00:00:00Z&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      }),
    ) as { outcomes: Row[]; nextCursor?: string };
    rows.push(...page.outcomes);
    cursor = page.nextCursor ?? "";
  } while (cursor);
  return rows;
}

const STORES = {
  sqlite: { replicas: 1, store: () => `store: { type: sqlite, path: "${join(mkdtempSync(join(tmpdir(), "payguard-wh-chaos-")), "payguard.db")}" }` },
  postgres: {
    replicas: 2,
    store: (schema: string) =>
      `store: { type: postgres, url: "${SHARED_POSTGRES}", postgres: { schema: ${schema} }, journal: { dir: "${mkdtempSync(join(tmpdir(), "payguard-journal-"))}" } }`,
  },
};

describe.each(Object.entries(STORES))("webhooks under faults: %s", (_name, setup) => {
  let stripeGw: FakeGateway;
  let adyenGw: FakeGateway;
  const service = new Service();
  let replicas: Replicas;

  beforeAll(async () => {
    [stripeGw, adyenGw] = await Promise.all([startFakeGateway(), startFakeGateway()]);
    stripeGw.setDefault((req) => steps.json(200, { id: `pi_${req.at}`, object: "payment_intent", status: "processing" }, { "request-id": `req_${req.at}` }));
    adyenGw.setDefault(steps.reset());
    await service.start();
    const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    schemas.push(schema);
    const configs = Array.from({ length: setup.replicas }, () => writeTempConfig(configYaml(setup.store(schema))));
    replicas = new Replicas(configs);
    await replicas.start();
  }, 30_000);

  afterAll(async () => {
    await replicas?.stop();
    await service.stop();
    await stripeGw?.close();
    await adyenGw?.close();
  });

  function configYaml(store: string): string {
    return `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, api: { enabled: true, token: "${TOKEN}" } }
shutdown: { readinessDelay: 0ms, drainTimeout: 1s }
${store}
resilience: { retry: { maxAttempts: 1 }, breaker: { threshold: 1000 } }
gateways:
  stripe: { url: "${stripeGw.url}", port: 0, upstream: { gateway: stripe } }
  adyen: { url: "${adyenGw.url}", port: 0, upstream: { gateway: adyen }, idempotency: { upstreamKey: false } }
webhooks:
  host: 127.0.0.1
  port: 0
  delivery: { timeout: 1s, lease: 2s, poll: 50ms, backoff: { initial: 50ms, max: 400ms } }
  endpoints:
    - { gateway: stripe, path: /webhooks/stripe, secret: "${STRIPE_SECRET}", deliverTo: "${service.url}/stripe" }
    - { gateway: adyen, path: /webhooks/adyen, secret: "${ADYEN_KEY}", deliverTo: "${service.url}/adyen" }
`;
  }

  /** The payments the events will name: Stripe answered "processing" (linked by key), Adyen left indeterminate (by reference). */
  async function pay(): Promise<{ keys: string[]; references: string[] }> {
    const child = replicas.any();
    const keys = Array.from({ length: PAYMENTS }, () => randomUUID());
    const references = Array.from({ length: PAYMENTS }, (_, i) => `order-${i}-${randomUUID().slice(0, 6)}`);
    for (const [i, key] of keys.entries()) {
      const headers = { "content-type": "application/json", "idempotency-key": key };
      const paid = await send(child.gatewayUrls.stripe as string, "/v1/payment_intents", {
        method: "POST",
        headers,
        body: JSON.stringify({ amount: 100 + i }),
      });
      expect(paid.status).toBe(200);
      const body = JSON.stringify({ reference: references[i], amount: { currency: "EUR", value: 100 + i }, merchantAccount: "M" });
      expect(
        (await send(child.gatewayUrls.adyen as string, "/v71/payments", { method: "POST", headers: { ...headers, "idempotency-key": randomUUID() }, body }))
          .status,
      ).toBe(502);
    }
    return { keys, references };
  }

  it("every valid event reaches the service once after its 2xx, none is lost, and the ledger ends in the events' states", async () => {
    const { keys, references } = await pay();
    const outcomeOf = (i: number) => (i % 3 === 0 ? "failed" : "succeeded");
    const valid = [
      ...keys.map((key, i) =>
        stripePost({
          id: `evt_${randomUUID()}`,
          type: outcomeOf(i) === "failed" ? "payment_intent.payment_failed" : "payment_intent.succeeded",
          request: { id: null, idempotency_key: key },
        }),
      ),
      ...references.map((reference, i) =>
        adyenPost({
          pspReference: `PSP${i}${randomUUID().slice(0, 6)}`,
          merchantAccountCode: "M",
          merchantReference: reference,
          amount: { currency: "EUR", value: 100 + i },
          eventCode: "AUTHORISATION",
          success: outcomeOf(i) === "failed" ? "false" : "true",
        }),
      ),
      ...Array.from({ length: 6 }, () => stripePost({ id: `evt_${randomUUID()}`, type: "customer.created", request: { id: "req_none" } })),
    ];
    const forged = [
      ...Array.from({ length: 4 }, () =>
        stripePost({ id: `evt_${randomUUID()}`, type: "payment_intent.succeeded", request: { idempotency_key: keys[0] } }, "whsec_forged"),
      ),
      ...references.slice(0, 4).map((reference) =>
        adyenPost(
          {
            pspReference: `PSPX${randomUUID().slice(0, 6)}`,
            merchantAccountCode: "M",
            merchantReference: reference,
            amount: { currency: "EUR", value: 5 },
            eventCode: "AUTHORISATION",
            success: "true",
          },
          true,
        ),
      ),
    ];
    const posts = shuffle([...valid, ...valid, ...valid, ...forged]);

    // The service's day: down, slow, failing, then well — and a replica killed while it is slow.
    service.phase = "down";
    await service.stop();
    const sending = sendAll(posts, replicas, 4, 4000);
    const day = (async () => {
      await sleep(1500);
      await service.start();
      service.phase = "slow";
      await sleep(700);
      await replicas.killAndRestart(0, 800);
      service.phase = "failing";
      await sleep(1500);
      service.phase = "ok";
    })();
    const [{ acknowledged, refused }] = await Promise.all([sending, day]);

    expect(refused).toBe(forged.length);
    for (const post of valid) expect(acknowledged.has(post.id), post.id).toBe(true);
    await until(() => valid.every((p) => service.delivered(p.id).length > 0), "every valid event delivered", 30_000);
    await sleep(1500); // what a wrong redelivery would need to show up (leases are 2 s, polls 50 ms)

    // none lost; none forged; none again after a 2xx, but for the killed replica's last instant
    expect(service.forged).toEqual([]);
    const again = valid.filter((p) => service.delivered(p.id).length > 1);
    const inKillWindow = (p: Post) => Math.abs((service.delivered(p.id)[0] ?? 0) - replicas.killedAt) < 1000;
    expect(again.filter((p) => !inKillWindow(p)).map((p) => [p.id, service.answers.filter((a) => a.id === p.id)])).toEqual([]);
    // At most what the killed replica had in flight: delivery.concurrency (4, the default) per endpoint, two endpoints.
    expect(again.length).toBeLessThanOrEqual(4 * 2);
    const answered = (status: number) => service.answers.filter((x) => x.status === status).length;
    console.log(
      `${_name}: ${posts.length} posts (${valid.length} valid events ×3, ${forged.length} forged); service answered ${answered(200)} × 200, ${answered(500)} × 500; ` +
        `${service.answers.filter((x) => x.at > replicas.killedAt).length} answers after the kill; delivered again in the kill window: ${again.length}`,
    );

    // the ledger: each payment one settled-by-event row, with its event's outcome
    const rows = await ledger(replicas.any());
    const settledFor = (link: string) => {
      const records = new Set(rows.filter((r) => r.link === link && r.state !== "settled-by-event").map((r) => r.record));
      return rows.filter((r) => records.has(r.record) && r.state === "settled-by-event").map((r) => r.outcome);
    };
    expect(keys.map((key) => settledFor(key))).toEqual(keys.map((_, i) => [outcomeOf(i)]));
    expect(references.map((reference) => settledFor(reference))).toEqual(references.map((_, i) => [outcomeOf(i)]));
    expect(rows.filter((r) => r.state === "settled-by-event")).toHaveLength(2 * PAYMENTS);
  }, 90_000);
});
