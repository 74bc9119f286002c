/**
 * Completion of unknown outcomes. A Stripe-like gateway (it dedupes by Idempotency-Key:
 * 409 while the first request runs, the stored answer after) charges, but answers only after
 * every payguard attempt has timed out. The client gets 504 and goes away; payguard keeps
 * the key in flight and re-sends the same bytes with the same key in the background until
 * the gateway's answer is stored — in the record and in the ledger. The client's late retry,
 * with the gateway hard down, is a replay.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type FakeGateway, type SeenRequest, type Step, startFakeGateway } from "../support/fake-gateway.js";
import { json, send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import { type Running, startInProcess } from "../support/payguard.js";
import { until } from "../support/until.js";

const TOKEN = "admin-token-for-the-completion-tests-0123";
const SECRET = "sk_live_51COMPLETIONsecretNeverKept";
const PAN = "4242424242424242";

/** Attempts end well before the gateway answers: 2 × 300 ms inside 900 ms. */
const TIGHT = "timeout: { attempt: 300ms, total: 900ms }, retry: { maxAttempts: 2, backoff: { initial: 10ms, max: 20ms } }";
const QUICK = "initialDelay: 100ms, maxDelay: 300ms";
const QUICK_COMPLETION = `idempotency: { completion: { ${QUICK} } }`;

interface Charge {
  key: string;
  id: string;
  /** performance.now() when the gateway's answer for it existed */
  answeredAt: number;
}

/**
 * Stripe's idempotency, scripted: the first request with a key charges and answers after
 * `answerAfterMs`; a request with the same key gets 409 while the first runs (after
 * `conflictAfterMs`: a gateway slow for everyone), its answer (replayed) once it is done.
 */
function stripeLike(gw: FakeGateway, answerAfterMs: number, conflictAfterMs = 0): Charge[] {
  const charges: Charge[] = [];
  const answerOf = (charge: Charge): Step => ({
    status: 200,
    headers: { "request-id": `req_${charge.id}` },
    body: { id: charge.id, object: "charge", amount: 1000, currency: "usd", status: "succeeded" },
  });
  gw.setDefault((req: SeenRequest) => {
    const key = String(req.headers["idempotency-key"]);
    const charge = charges.find((c) => c.key === key);
    if (!charge) {
      const created = { key, id: `ch_${charges.length + 1}`, answeredAt: req.time + answerAfterMs };
      charges.push(created);
      return { ...answerOf(created), delayMs: answerAfterMs };
    }
    if (performance.now() < charge.answeredAt)
      return { delayMs: conflictAfterMs, status: 409, body: { error: { type: "idempotency_error", message: "in progress" } } };
    return { ...answerOf(charge), headers: { "request-id": `req_${charge.id}`, "idempotent-replayed": "true" } };
  });
  return charges;
}

const pay = (url: string, key: string) =>
  send(url, "/v1/charges", {
    method: "POST",
    headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount: 1000, currency: "usd", card: { number: PAN, cvc: "123" } }),
  });

const outcomes = async (pg: Running, key?: string) => {
  const answer = await send(pg.adminUrl, "/admin/outcomes?since=0&limit=100", { headers: { authorization: `Bearer ${TOKEN}` } });
  const rows = (json(answer) as { outcomes: Record<string, unknown>[] }).outcomes;
  return key === undefined ? rows : rows.filter((row) => row.record === key);
};

const metrics = async (pg: Running) => (await send(pg.adminUrl, "/metrics")).body.toString("utf8");

const started: { gw: FakeGateway[]; pg: Running[] } = { gw: [], pg: [] };
afterEach(async () => {
  await Promise.all(started.pg.splice(0).map((pg) => pg.close()));
  await Promise.all(started.gw.splice(0).map((gw) => gw.close().catch(() => {})));
});

async function setUp(extra: string, resilience = ""): Promise<{ gw: FakeGateway; pg: Running; dir: string }> {
  const gw = await startFakeGateway();
  started.gw.push(gw);
  const dir = mkdtempSync(join(tmpdir(), "payguard-completion-"));
  const store = `store: { type: sqlite, path: "${join(dir, "payguard.db")}" }\nadmin: { api: { enabled: true, token: "${TOKEN}" } }`;
  const pg = await startInProcess({ url: gw.url, gateway: "stripe" }, `${store}\nresilience: { ${TIGHT}${resilience} }\n${extra}`);
  started.pg.push(pg);
  return { gw, pg, dir };
}

describe("completion of unknown outcomes", () => {
  it("the abandoned payment: 504 to the client, the charge stored and in the ledger once the gateway answers, the late retry a replay with the gateway down", async () => {
    // A short lease: the completion must keep renewing it, or the waiting repeat below takes the key over.
    // A breaker that stays closed: the first call's two timeouts and the re-sends' 409s before the
    // charge exists are consecutive failures; on a slow machine a fifth opened it for
    // halfOpenAfter (10 s), the completion failed fast all that time, and the waiting repeat
    // outlasted maxWait (409; seen once in CI on Node 24). The breaker is not this test's point.
    const { gw, pg, dir } = await setUp(`idempotency: { lease: 400ms, completion: { ${QUICK} } }`, ", breaker: { threshold: 1000 }");
    const charges = stripeLike(gw, 1500, 400);
    const key = randomUUID();

    const first = await pay(pg.url, key);
    expect(first.status).toBe(504);
    expect(charges).toHaveLength(1);

    // The record stays in flight while payguard completes it: a repeat now waits for the answer.
    const waited = await pay(pg.url, key);
    expect(waited.status).toBe(200);
    expect(waited.headers["idempotent-replayed"]).toBe("true");
    expect(json(waited)).toMatchObject({ id: "ch_1", status: "succeeded" });

    const charge = charges[0] as Charge;
    await until(async () => (await outcomes(pg)).some((row) => row.state === "completed-in-background"), "the ledger has the charge");
    const ledgerSeen = performance.now();
    expect(ledgerSeen - charge.answeredAt).toBeLessThan(3_000);
    const [row] = (await outcomes(pg)).filter((r) => r.state === "completed-in-background");
    expect(row).toMatchObject({ status: 200, gatewayRequestId: "req_ch_1", fields: { "/id": "ch_1", "/status": "succeeded" } });
    expect(row?.attempts as number).toBeGreaterThan(2);

    // Every re-send carried the same bytes and the same key.
    const sent = gw.requests.filter((r) => r.headers["idempotency-key"] === key);
    expect(sent.length).toBeGreaterThan(2);
    for (const request of sent) expect(request.body.equals(sent[0]?.body as Buffer)).toBe(true);

    // The gateway goes hard down (connections refused); the client's late retry is a replay.
    const reached = gw.requests.length;
    await gw.close();
    const late = await pay(pg.url, key);
    expect(late.status).toBe(200);
    expect(late.headers["idempotent-replayed"]).toBe("true");
    expect(json(late)).toMatchObject({ id: "ch_1" });
    expect(gw.requests.length).toBe(reached);

    const text = await metrics(pg);
    expect(sample(text, "payguard_completions_total", { route: "default", result: "completed" })).toBe(1);
    const lines = pg.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "completion");
    expect(lines).toEqual([expect.objectContaining({ result: "completed", status: 200, gatewayRequestId: "req_ch_1", reqId: expect.any(String) })]);
    // The request (credentials, card data) lived in memory only.
    for (const name of readdirSync(dir)) {
      const bytes = readFileSync(join(dir, name));
      expect(bytes.includes(SECRET), name).toBe(false);
      expect(bytes.includes(PAN), name).toBe(false);
    }
  });

  it("a retry answered 409 (the first attempt still running at the gateway): the client gets the 409, payguard stores the charge once it exists", async () => {
    const { gw, pg } = await setUp(QUICK_COMPLETION);
    const charges = stripeLike(gw, 1500);
    const key = randomUUID();

    const first = await pay(pg.url, key);
    expect(first.status).toBe(409);
    expect(json(first)).toMatchObject({ error: { type: "idempotency_error" } });
    await until(async () => (await outcomes(pg)).some((row) => row.state === "completed-in-background"), "the ledger has the charge");
    expect(charges).toHaveLength(1);

    await gw.close();
    const late = await pay(pg.url, key);
    expect(late.status).toBe(200);
    expect(json(late)).toMatchObject({ id: "ch_1", status: "succeeded" });
  });

  it("a reset after the request was sent: the client is told 502 upstream_reset with outcome unknown, and the completion stores the charge", async () => {
    const { gw, pg } = await setUp(QUICK_COMPLETION, ", breaker: { threshold: 1000 }");
    gw.script({ destroy: "now" }, { destroy: "now" });
    gw.setDefault({ status: 200, body: { id: "ch_after_reset" } });
    const key = randomUUID();

    const first = await pay(pg.url, key);
    expect(first.status).toBe(502);
    expect(json(first)).toMatchObject({ code: "upstream_reset", outcome: "unknown" });
    await until(
      async () => sample(await metrics(pg), "payguard_completions_total", { route: "default", result: "completed" }) === 1,
      "the completion stores the charge",
    );
    const repeat = await pay(pg.url, key);
    expect(repeat.status).toBe(200);
    expect(repeat.headers["idempotent-replayed"]).toBe("true");
    expect(JSON.parse(repeat.body.toString())).toEqual({ id: "ch_after_reset" });
  });

  it("without an upstream key nothing is ever re-sent: the outcome stays indeterminate", async () => {
    const { gw, pg } = await setUp(`idempotency: { upstreamKey: false, completion: { ${QUICK} } }`);
    gw.setDefault({ delayMs: 1500, status: 200, body: { id: "ch_once" } });
    const key = randomUUID();

    expect((await pay(pg.url, key)).status).toBe(504);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // past several completion rounds, had one started
    expect(gw.requests).toHaveLength(1);
    const repeat = await pay(pg.url, key);
    expect(repeat.status).toBe(502);
    expect(json(repeat)).toMatchObject({ error: { code: "outcome_indeterminate" } });
    expect(gw.requests).toHaveLength(1);
    expect(sample(await metrics(pg), "payguard_completions_total", { route: "default", result: "completed" })).toBe(0);
  });

  it("gives up after maxDuration: the key is released, and a repeat re-drives it with the same upstream key", async () => {
    // a breaker that stays closed: the repeat must reach the gateway once it is back
    const { gw, pg } = await setUp("idempotency: { completion: { initialDelay: 100ms, maxDelay: 200ms, maxDuration: 1s } }", ", breaker: { threshold: 1000 }");
    gw.setDefault({ destroy: "now" });
    const key = randomUUID();

    expect((await pay(pg.url, key)).status).toBeGreaterThanOrEqual(500);
    await until(async () => sample(await metrics(pg), "payguard_completions_total", { route: "default", result: "gave_up" }) === 1, "the completion gives up");
    const rows = await outcomes(pg);
    expect(rows.map((r) => r.state)).toEqual(["released"]);

    gw.setDefault({ status: 200, body: { id: "ch_later" } });
    const repeat = await pay(pg.url, key);
    expect(repeat.status).toBe(200);
    expect(repeat.headers["idempotent-replayed"]).toBeUndefined();
    expect(new Set(gw.requests.map((r) => r.headers["idempotency-key"]))).toEqual(new Set([key]));
  });

  it("maxDuration 0 turns it off: the key is released at once, as without completion", async () => {
    const { gw, pg } = await setUp("idempotency: { completion: { maxDuration: 0 } }");
    gw.setDefault({ destroy: "now" });
    const key = randomUUID();
    expect((await pay(pg.url, key)).status).toBeGreaterThanOrEqual(500);
    const sentByRequest = gw.requests.length;
    expect((await outcomes(pg)).map((r) => r.state)).toEqual(["released"]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(gw.requests).toHaveLength(sentByRequest);
  });

  it("shutdown stops a completion at once and settles its key", async () => {
    const { gw, pg } = await setUp("idempotency: { completion: { initialDelay: 5s, maxDelay: 5s } }\nshutdown: { settleTimeout: 20s }");
    gw.setDefault({ destroy: "now" });
    expect((await pay(pg.url, randomUUID())).status).toBeGreaterThanOrEqual(500);
    const before = performance.now();
    await pg.close();
    started.pg.splice(started.pg.indexOf(pg), 1);
    expect(performance.now() - before).toBeLessThan(4_000);
    const lines = pg.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "completion");
    expect(lines).toEqual([expect.objectContaining({ result: "abandoned", rounds: 0 })]);
  });
});
