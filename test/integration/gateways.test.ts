/**
 * Several gateways in one payguard: three scripted fake gateways, each reached through its
 * own listener (base-URL mode) and server.port serving the first. Requests reach the right
 * gateway; the same key sent to two gateways is two payments; a breaker open on one leaves
 * the others serving; the access line names the gateway.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Answer, json, send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import { type Running, startInProcessYaml } from "../support/payguard.js";

const NAMES = ["stripe", "adyen", "paypal"] as const;
type Name = (typeof NAMES)[number];
const gw = {} as Record<Name, FakeGateway>;
let pg: Running;

beforeAll(async () => {
  for (const name of NAMES) gw[name] = await startFakeGateway();
  pg = await startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
store: { type: memory }
resilience: { retry: { maxAttempts: 1 } }
gateways:
  stripe: { url: "${gw.stripe.url}", port: 0 }
  adyen: { url: "${gw.adyen.url}", port: 0, resilience: { breaker: { threshold: 2, halfOpenAfter: 60s } } }
  paypal: { url: "${gw.paypal.url}", port: 0, idempotency: { mode: optional } }
`);
});
afterEach(() => {
  for (const name of NAMES) gw[name].reset();
});
afterAll(async () => {
  await pg.close();
  for (const name of NAMES) await gw[name].close();
});

const urlOf = (name: Name): string => pg.pg.gatewayUrls[name] as string;
const pay = (base: string, key?: string): Promise<Answer> =>
  send(base, "/v1/charges", {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
    body: JSON.stringify({ amount: 1000 }),
  });

describe("several gateways in one process", () => {
  it("each listener reaches its own gateway; server.port serves the first", async () => {
    for (const name of NAMES) gw[name].script(steps.json(201, { gateway: name }));
    const before = NAMES.map((name) => gw[name].requests.length);
    for (const name of NAMES) expect(json(await pay(urlOf(name), `to-${name}`))).toEqual({ gateway: name });
    gw.stripe.script(steps.json(201, { gateway: "stripe" }));
    expect(json(await pay(pg.url, "to-first"))).toEqual({ gateway: "stripe" });
    expect(NAMES.map((name, i) => gw[name].requests.length - (before[i] as number))).toEqual([2, 1, 1]);
    // each gateway's own settings: paypal's idempotency is optional, stripe's is not
    expect((await pay(urlOf("paypal"))).status).toBe(200);
    expect((await pay(urlOf("stripe"))).status).toBe(400);
  });

  it("the same key sent to two gateways is two payments, each replayed by its own gateway's record", async () => {
    gw.stripe.setDefault(steps.json(201, { id: "ch_stripe" }));
    gw.adyen.setDefault(steps.json(201, { id: "psp_adyen" }));
    const key = "same-key-two-gateways";
    const first = [await pay(urlOf("stripe"), key), await pay(urlOf("adyen"), key)];
    expect(first.map((a) => json(a).id)).toEqual(["ch_stripe", "psp_adyen"]);
    const repeats = [await pay(urlOf("stripe"), key), await pay(urlOf("adyen"), key)];
    expect(repeats.map((a) => [json(a).id, a.headers["idempotent-replayed"]])).toEqual([
      ["ch_stripe", "true"],
      ["psp_adyen", "true"],
    ]);
    const withKey = (name: Name) => gw[name].requests.filter((r) => r.headers["idempotency-key"] === key).length;
    expect([withKey("stripe"), withKey("adyen")]).toEqual([1, 1]);
  });

  it("a breaker open on one gateway leaves the others serving, and metrics and the access line name each", async () => {
    gw.adyen.setDefault(steps.unavailable());
    gw.stripe.setDefault(steps.json(200, { ok: true }));
    const before = gw.adyen.requests.length;
    for (let i = 0; i < 2; i++) expect((await send(urlOf("adyen"), "/v1/balance")).status).toBe(503);
    const open = await send(urlOf("adyen"), "/v1/balance");
    expect(json(open).code).toBe("circuit_open");
    expect(gw.adyen.requests.length - before).toBe(2);
    expect((await send(urlOf("stripe"), "/v1/balance", { headers: { "x-request-id": "via-stripe" } })).status).toBe(200);
    const text = await (await fetch(`${pg.adminUrl}/metrics`)).text();
    expect(sample(text, "payguard_breaker_state", { breaker: "adyen" })).toBe(1);
    expect(sample(text, "payguard_breaker_state", { breaker: "stripe" })).toBe(0);
    const line = pg.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === "via-stripe");
    expect(line).toMatchObject({ gateway: "stripe", route: "stripe/default", status: 200 });
  });
});
