/**
 * A replay (a stored answer returned for a repeated Idempotency-Key) is told apart from a
 * gateway answer: `outcome: "replay"` in the access line and in payguard_requests_total,
 * `attempts` 0, the record id and the gateway's request id kept. Real payguard in process, a
 * real fake gateway on port 0, the access lines captured and /metrics scraped.
 */
import { describe, expect, it } from "vitest";
import { type FakeGateway, type SeenRequest, steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import type { Running } from "../support/payguard.js";
import { until } from "../support/until.js";

const env = useGateway();
/** The gateway profile that reads the gateway's request id (Stripe's Request-Id header). */
const stripe = () => ({ url: env.gw.url, gateway: "stripe" });
let seq = 0;
const freshKey = () => `replay-outcome-${process.pid}-${++seq}`;

function pay(pg: Running, key: string, reqId: string, body: unknown = { amount: 1000, currency: "eur" }) {
  return send(pg.url, "/v1/charges", {
    method: "POST",
    headers: { authorization: "Bearer sk_test_replay", "content-type": "application/json", "idempotency-key": key, "x-request-id": reqId },
    body: JSON.stringify(body),
  });
}

/** The access line of one request: written once its response has finished, so waited for. */
async function accessLine(pg: Running, reqId: string): Promise<Record<string, unknown>> {
  const find = () => pg.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "request" && l.reqId === reqId);
  await until(() => find() !== undefined, `the access line of ${reqId} is written`);
  return find() as Record<string, unknown>;
}

const requests = async (pg: Running, labels: Record<string, string>) =>
  sample((await send(pg.adminUrl, "/metrics")).body.toString(), "payguard_requests_total", { route: "default", method: "POST", ...labels });

describe("replays in the access line and the metrics", () => {
  it("a keyed POST goes to the gateway (outcome upstream, 1 attempt); its repeat is a replay (outcome replay, 0 attempts)", async () => {
    const pg = await env.payguard("", stripe());
    const before = env.gw.requests.length;
    env.gw.script(steps.json(201, { id: "ch_replayed" }, { "request-id": "req_gw_1" }));
    const key = freshKey();

    const first = await pay(pg, key, "replay-first");
    expect(first.status).toBe(201);
    const repeat = await pay(pg, key, "replay-repeat");
    expect(repeat.status).toBe(201);
    expect(repeat.headers["idempotent-replayed"]).toBe("true");
    expect(env.gw.requests.length - before).toBe(1);

    const firstLine = await accessLine(pg, "replay-first");
    const repeatLine = await accessLine(pg, "replay-repeat");
    expect(firstLine).toMatchObject({ status: 201, attempts: 1, outcome: "upstream", gatewayRequestId: "req_gw_1" });
    expect(repeatLine).toMatchObject({ status: 201, attempts: 0, outcome: "replay", gatewayRequestId: "req_gw_1" });
    // the same record, so an operator goes from either line to it
    expect(typeof firstLine.record).toBe("string");
    expect(repeatLine.record).toBe(firstLine.record);

    expect(await requests(pg, { status_class: "2xx", outcome: "upstream" })).toBe(1);
    expect(await requests(pg, { status_class: "2xx", outcome: "replay" })).toBe(1);
  });

  it("a replay of an answer stored by a background completion (the first request got 504) is a replay too", async () => {
    // The gateway dedupes by key (Stripe-like) and answers only after payguard's attempts have
    // timed out: the client gets 504, a background completion re-sends until the answer is stored.
    const pg = await env.payguard(
      "resilience: { timeout: { attempt: 200ms, total: 500ms }, retry: { maxAttempts: 1 }, breaker: { threshold: 1000 } }\n" +
        "idempotency: { completion: { initialDelay: 100ms, maxDelay: 200ms } }",
      stripe(),
    );
    dedupingGateway(env.gw, 900);
    const key = freshKey();

    expect((await pay(pg, key, "completion-first")).status).toBe(504);
    await until(async () => (await completed(pg)) === 1, "the background completion stored the answer", 10_000);
    const repeat = await pay(pg, key, "completion-repeat");
    expect(repeat.status).toBe(200);
    expect(repeat.headers["idempotent-replayed"]).toBe("true");

    expect(await accessLine(pg, "completion-first")).toMatchObject({ status: 504, outcome: "upstream_timeout" });
    expect(await accessLine(pg, "completion-repeat")).toMatchObject({ status: 200, attempts: 0, outcome: "replay", gatewayRequestId: "req_ch_bg" });
    expect(await requests(pg, { status_class: "2xx", outcome: "replay" })).toBe(1);
    expect(await requests(pg, { status_class: "2xx", outcome: "upstream" })).toBe(0);
  });

  it("answers payguard makes for a repeated key keep their problem code: 409 in flight, 422 another payload", async () => {
    const pg = await env.payguard("idempotency: { inFlight: { strategy: reject } }");
    const before = env.gw.requests.length;
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    env.gw.script(steps.held(gate, steps.json(200, { id: "ch_held" })));
    const key = freshKey();

    const first = pay(pg, key, "held-first");
    await until(() => env.gw.requests.length === before + 1, "the first request is at the gateway");
    expect((await pay(pg, key, "held-duplicate")).status).toBe(409);
    open();
    expect((await first).status).toBe(200);
    expect((await pay(pg, key, "held-other-payload", { amount: 2000, currency: "eur" })).status).toBe(422);

    expect(await accessLine(pg, "held-duplicate")).toMatchObject({ status: 409, attempts: 0, outcome: "idempotency_key_in_use" });
    expect(await accessLine(pg, "held-other-payload")).toMatchObject({ status: 422, attempts: 0, outcome: "idempotency_key_reused" });
    expect(await accessLine(pg, "held-first")).toMatchObject({ status: 200, attempts: 1, outcome: "upstream" });
    expect(await requests(pg, { status_class: "4xx", outcome: "idempotency_key_in_use" })).toBe(1);
    expect(await requests(pg, { status_class: "4xx", outcome: "idempotency_key_reused" })).toBe(1);
    expect(await requests(pg, { status_class: "2xx", outcome: "replay" })).toBe(0);
  });
});

/**
 * A gateway that dedupes by Idempotency-Key: the first request with a key answers after
 * `answerAfterMs`; a re-send gets 409 while that runs, the same answer after.
 */
function dedupingGateway(gw: FakeGateway, answerAfterMs: number): void {
  const answeredAt = new Map<string, number>();
  const answer = { status: 200, headers: { "request-id": "req_ch_bg" }, body: { id: "ch_bg", status: "succeeded" } };
  gw.setDefault((req: SeenRequest) => {
    const key = String(req.headers["idempotency-key"]);
    const at = answeredAt.get(key);
    if (at === undefined) {
      answeredAt.set(key, req.time + answerAfterMs);
      return { ...answer, delayMs: answerAfterMs };
    }
    if (performance.now() < at) return { status: 409, body: { error: { type: "idempotency_error", message: "in progress" } } };
    return answer;
  });
}

const completed = async (pg: Running) =>
  sample((await send(pg.adminUrl, "/metrics")).body.toString(), "payguard_completions_total", { route: "default", result: "completed" });
