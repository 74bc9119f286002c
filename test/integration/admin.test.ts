import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { useProxy } from "../support/harness.js";
import { send } from "../support/http.js";
import { sample } from "../support/metrics.js";

const env = useProxy("idempotency: { mode: optional }\nroutes: [ { name: charges, methods: [POST], path: /v1/charges } ]");

async function metrics(): Promise<string> {
  const res = await send(env.pg.adminUrl, "/metrics");
  expect(res.status).toBe(200);
  expect(res.headers["content-type"]).toContain("text/plain");
  return res.body.toString();
}

describe("admin listener", () => {
  it("answers /healthz and /readyz while running", async () => {
    expect((await send(env.pg.adminUrl, "/healthz")).status).toBe(200);
    const ready = await send(env.pg.adminUrl, "/readyz");
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body.toString())).toEqual({ status: "ready" });
  });

  it("is not reachable through the proxy port (admin paths are forwarded upstream)", async () => {
    await send(env.pg.url, "/metrics");
    expect(env.gw.requests.at(-1)?.url).toBe("/metrics");
  });

  it("counts requests by route, method, status class and outcome", async () => {
    const before = await metrics();
    const ok = { route: "charges", method: "POST", status_class: "2xx", outcome: "upstream" };
    const declined = { route: "charges", method: "POST", status_class: "4xx", outcome: "upstream" };
    const get = { route: "default", method: "GET", status_class: "2xx", outcome: "upstream" };
    const tooBig = { route: "charges", method: "POST", status_class: "4xx", outcome: "body_too_large" };

    for (let i = 0; i < 3; i++) await send(env.pg.url, "/v1/charges", { method: "POST", body: "amount=1" });
    env.gw.script(steps.json(402, { error: { code: "card_declined" } }));
    await send(env.pg.url, "/v1/charges", { method: "POST", body: "amount=2" });
    await send(env.pg.url, "/v1/balance");
    await send(env.pg.url, "/v1/charges", { method: "POST", body: "x".repeat(2 * 1024 * 1024) });

    const after = await metrics();
    const delta = (labels: Record<string, string>) => sample(after, "payguard_requests_total", labels) - sample(before, "payguard_requests_total", labels);
    expect(delta(ok)).toBe(3);
    expect(delta(declined)).toBe(1);
    expect(delta(get)).toBe(1);
    expect(delta(tooBig)).toBe(1);

    const durationCount = (text: string) => sample(text, "payguard_request_duration_seconds_count", { route: "charges", method: "POST", status_class: "2xx" });
    expect(durationCount(after) - durationCount(before)).toBe(3);
    const attempts = (text: string) => sample(text, "payguard_upstream_attempt_duration_seconds_count", { route: "charges", outcome: "2xx" });
    expect(attempts(after) - attempts(before)).toBe(3);
    expect(after).toContain("process_cpu_user_seconds_total");
  });
});
