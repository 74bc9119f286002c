/**
 * "The answer is stored before the client sees it", and what happens when it cannot be:
 * payguard in front of the fake gateway, with a store whose writes the test holds back or
 * makes fail (test/support/controlled-store.ts).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { controlledStore } from "../support/controlled-store.js";
import { steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { json, send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import { until } from "../support/until.js";

const env = useGateway();

const pay = (url: string, key: string) =>
  send(url, "/v1/charges", {
    method: "POST",
    headers: { authorization: "Bearer sk_test_settle", "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount: 1000, currency: "eur" }),
  });

describe("settling a key before the client sees the answer", () => {
  it("the client gets the gateway's answer only once the store has taken it", async () => {
    const store = controlledStore();
    const pg = await env.payguard("", env.gw.url, { store });
    env.gw.script(steps.json(201, { id: "ch_held" }));
    const gate = store.holdCompletes();
    const answer = pay(pg.url, randomUUID());
    await gate.reached;
    // The store is still writing: whatever the machine's speed, the answer must not be out.
    const early = await Promise.race([answer.then(() => "answered"), sleep(300).then(() => "held back")]);
    expect(early).toBe("held back");
    gate.open();
    expect((await answer).status).toBe(201);
  });
});

describe("an answer the store cannot take", () => {
  const metrics = async (adminUrl: string) => (await send(adminUrl, "/metrics")).body.toString("utf8");

  it("the client gets it; a duplicate here gets it as a replay, never a second charge; payguard writes it until the store takes it", async () => {
    const store = controlledStore();
    // A short lease: without the renewal going on while the write is retried, a duplicate would take the key over.
    const pg = await env.payguard("idempotency: { lease: 300ms }", env.gw.url, { store });
    env.gw.script(steps.json(201, { id: "ch_pending" }));
    store.failCompletes(4);
    const key = randomUUID();
    const before = env.gw.requests.length;

    const first = await pay(pg.url, key);
    expect(first.status).toBe(201);
    expect(sample(await metrics(pg.adminUrl), "payguard_idempotency_settlements_pending")).toBe(1);
    const repeat = await pay(pg.url, key);
    expect(repeat.status).toBe(201);
    expect(repeat.headers["idempotent-replayed"]).toBe("true");
    expect(json(repeat)).toEqual({ id: "ch_pending" });

    await until(() => store.completes >= 5, "the store took the answer");
    const text = await metrics(pg.adminUrl);
    expect(sample(text, "payguard_idempotency_settlements_pending")).toBe(0);
    expect(sample(text, "payguard_idempotency_settlements_total", { route: "default", settlement: "stored" })).toBe(1);
    // Now from the store itself, long after the first lease would have run out.
    await sleep(400);
    const later = await pay(pg.url, key);
    expect(later.headers["idempotent-replayed"]).toBe("true");
    expect(env.gw.requests.length - before).toBe(1);
  });
});

describe("shutdown", () => {
  it("closes the store only after an upstream call that outlived the drain has settled its key (regression)", async () => {
    const store = controlledStore();
    const pg = await env.payguard("shutdown: { drainTimeout: 100ms, settleTimeout: 5s }", env.gw.url, { store });
    env.gw.script(steps.delay(800, steps.json(201, { id: "ch_late" })));
    const before = env.gw.requests.length;
    const answer = pay(pg.url, randomUUID()).catch((err: unknown) => err);
    await until(() => env.gw.requests.length > before, "the gateway has the request");
    // And the store is slow to take the answer, after the gateway finally gives it.
    const gate = store.holdCompletes();
    void gate.reached.then(() => setTimeout(gate.open, 300));
    await pg.pg.shutdown();
    // The client's connection was cut at the drain timeout; the gateway's answer came later.
    expect(await answer).toBeInstanceOf(Error);
    expect(store.events).toEqual(["completed", "closed"]);
  });
});
