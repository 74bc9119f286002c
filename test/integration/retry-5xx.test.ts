/** `retry.on: [5xx]` retries every 5xx status through the real proxy, and nothing else (user report). */
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { json, send } from "../support/http.js";
import type { Running } from "../support/payguard.js";

const env = useGateway();
let seq = 0;

function charge(pg: Running) {
  return send(pg.url, "/v1/charges", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": `r5xx-${process.pid}-${++seq}` },
    body: '{"amount":100}',
  });
}

describe("retry.on: [5xx]", () => {
  const config = "resilience: { retry: { maxAttempts: 4, on: [5xx], backoff: { initial: 1ms, max: 5ms } } }";

  it("500, 507, 599 (none listed one by one), then 200: the client gets the 200 after four attempts", async () => {
    const pg = await env.payguard(config);
    env.gw.script(steps.json(500, {}), steps.json(507, {}), steps.json(599, {}), steps.json(200, { id: "ch_4th" }));
    const before = env.gw.requests.length;
    const res = await charge(pg);
    expect(res.status).toBe(200);
    expect(json(res)).toEqual({ id: "ch_4th" });
    expect(env.gw.requests.length - before).toBe(4);
  });

  it("a 4xx is not a 5xx: passed through after one attempt", async () => {
    const pg = await env.payguard(config);
    env.gw.script(steps.json(429, { error: "slow down" }), steps.json(200, {}));
    const before = env.gw.requests.length;
    const res = await charge(pg);
    expect(res.status).toBe(429);
    expect(env.gw.requests.length - before).toBe(1);
  });
});
