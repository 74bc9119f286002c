import { describe, expect, it } from "vitest";
import { useProxy } from "../support/harness.js";
import { send } from "../support/http.js";

const env = useProxy("idempotency: { mode: optional }");

const TOKEN = "sk_live_51TESTSECRETdoNotLog9x";
const PAN = "4242424242424242";
const CVC = "737";

describe("request logs", () => {
  it("write one JSON line per request with the documented fields", async () => {
    const before = env.pg.logs.length;
    await send(env.pg.url, "/v1/charges?limit=1", { method: "POST", headers: { "x-request-id": "log-test-1" }, body: "amount=1" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = env.pg.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.msg === "request" && l.reqId === "log-test-1");
    expect(line).toMatchObject({ level: "info", route: "default", method: "POST", path: "/v1/charges", status: 200, attempts: 1, outcome: "upstream" });
    expect(typeof line?.durationMs).toBe("number");
  });

  it("never contain secrets or card data from the request, even when the request fails", async () => {
    const headers = {
      authorization: `Bearer ${TOKEN}`,
      cookie: `session=${TOKEN}`,
      "x-api-key": TOKEN,
      "content-type": "application/x-www-form-urlencoded",
    };
    const body = `card[number]=${PAN}&card[cvc]=${CVC}&amount=100`;
    await send(env.pg.url, `/v1/tokens?key=${TOKEN}&card=${PAN}`, { method: "POST", headers, body });
    await send(env.pg.url, `/v1/tokens?key=${TOKEN}`, { method: "POST", headers, body: "x".repeat(2 * 1024 * 1024) });
    await send(env.pg.url, `/v1/tokens?key=${TOKEN}`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ card: { number: PAN, cvc: CVC } }),
    });
    await new Promise((resolve) => setTimeout(resolve, 50));

    // The gateway did receive them (so the test is feeding real secrets through)...
    expect(env.gw.requests.some((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    // ...and no log line holds any of them.
    const all = env.pg.logs.join("\n");
    expect(env.pg.logs.length).toBeGreaterThan(3);
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(PAN);
    expect(all).not.toContain(`cvc]=${CVC}`);
  });

  it("redacts secret fields in any object that is logged", async () => {
    const { createLogger } = await import("../../src/log.js");
    const lines: string[] = [];
    const logger = createLogger("info", { write: (l: string) => void lines.push(l) });
    logger.info({ headers: { authorization: `Bearer ${TOKEN}`, cookie: TOKEN, "x-api-key": TOKEN }, payment: { card: PAN, cvc: CVC } }, "debug dump");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(lines.join("")).not.toContain(TOKEN);
    expect(lines.join("")).not.toContain(PAN);
    expect(lines.join("")).toContain("[redacted]");
  });
});
