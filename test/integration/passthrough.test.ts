import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, patternBytes, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Answer, comparableHeaders, parseRawResponse, rawExchange, send } from "../support/http.js";
import { type Running, startInProcess } from "../support/payguard.js";

let gw: FakeGateway;
let pg: Running;

beforeAll(async () => {
  gw = await startFakeGateway();
  pg = await startInProcess(gw.url);
});
afterAll(async () => {
  await pg.close();
  await gw.close();
});

let keys = 0;

/**
 * Sends the same request directly and through payguard, with the same scripted answer.
 * POST/PATCH carry a fresh Idempotency-Key, so their answers take the buffered-and-stored
 * path; GETs stream.
 */
async function bothWays(step: Parameters<FakeGateway["script"]>[0], path: string, init: Parameters<typeof send>[2] = {}) {
  gw.script(step, step);
  if (init.method === "POST" || init.method === "PATCH") init = { ...init, headers: { "idempotency-key": `pt-${++keys}`, ...init.headers } };
  const direct = await send(gw.url, path, init);
  const directSeen = gw.requests.at(-1);
  const proxied = await send(pg.url, path, init);
  const proxiedSeen = gw.requests.at(-1);
  return { direct, proxied, directSeen, proxiedSeen };
}

function expectIdentical(direct: Answer, proxied: Answer) {
  expect(proxied.status).toBe(direct.status);
  expect(comparableHeaders(proxied.headers)).toEqual(comparableHeaders(direct.headers));
  expect(proxied.body.equals(direct.body)).toBe(true);
}

describe("pass-through is transparent", () => {
  it("forwards a POST with a JSON body and returns the answer byte for byte", async () => {
    const payload = JSON.stringify({ amount: 1999, currency: "eur", metadata: { order: "A-1" } });
    const { direct, proxied, directSeen, proxiedSeen } = await bothWays(
      steps.json(200, { id: "ch_1", object: "charge", amount: 1999 }, { "request-id": "req_abc" }),
      "/v1/charges",
      { method: "POST", headers: { "content-type": "application/json", "idempotency-key": "k-1" }, body: payload },
    );
    expectIdentical(direct, proxied);
    expect(proxied.headers["request-id"]).toBe("req_abc");
    // The gateway saw the same method, target, body and end-to-end headers.
    expect(proxiedSeen?.method).toBe("POST");
    expect(proxiedSeen?.url).toBe(directSeen?.url);
    expect(proxiedSeen?.body.toString()).toBe(payload);
    expect(proxiedSeen?.headers["idempotency-key"]).toBe("k-1");
    expect(proxiedSeen?.headers["content-type"]).toBe("application/json");
  });

  it("forwards a GET with its query string untouched", async () => {
    const path = "/v1/charges?limit=3&starting_after=ch_9&expand[]=data.customer&q=a%20b";
    const { direct, proxied, proxiedSeen } = await bothWays(steps.json(200, { object: "list", data: [] }), path);
    expectIdentical(direct, proxied);
    expect(proxiedSeen?.url).toBe(path);
  });

  it("returns a 201 with Location unchanged", async () => {
    const { direct, proxied } = await bothWays(steps.json(201, { id: "pi_1" }, { location: "/v1/payment_intents/pi_1" }), "/v1/payment_intents", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "amount=100&currency=usd",
    });
    expectIdentical(direct, proxied);
    expect(proxied.status).toBe(201);
    expect(proxied.headers.location).toBe("/v1/payment_intents/pi_1");
  });

  it("passes a 402 decline with its error body through untouched (not a payguard problem)", async () => {
    const decline = { error: { type: "card_error", code: "card_declined", decline_code: "insufficient_funds" } };
    const { direct, proxied } = await bothWays(steps.json(402, decline), "/v1/charges", { method: "POST", body: "amount=1" });
    expectIdentical(direct, proxied);
    expect(proxied.status).toBe(402);
    expect(proxied.headers["payguard-origin"]).toBeUndefined();
    expect(JSON.parse(proxied.body.toString())).toEqual(decline);
  });

  it("streams a 1 MB response body through byte for byte", async () => {
    const size = 1024 * 1024;
    const { direct, proxied } = await bothWays({ streamBytes: size, headers: { "x-export": "yes" } }, "/v1/reports/1/file");
    expectIdentical(direct, proxied);
    expect(proxied.body.length).toBe(size);
    expect(proxied.body.equals(patternBytes(size))).toBe(true);
  });

  it("keeps duplicate response headers such as Set-Cookie", async () => {
    const { direct, proxied } = await bothWays({ status: 200, headers: { "set-cookie": ["a=1", "b=2"] }, body: "ok" }, "/cookies");
    expectIdentical(direct, proxied);
    expect(proxied.headers["set-cookie"]).toEqual(["a=1", "b=2"]);
  });
});

describe("client disconnects", () => {
  it("a client leaving mid-stream cuts the upstream body and payguard keeps serving (regression: crash)", async () => {
    gw.script({ streamBytes: 1024 * 1024, chunkDelayMs: 20 });
    const { request } = await import("undici");
    const controller = new AbortController();
    const res = await request(`${pg.url}/v1/reports/slow`, { signal: controller.signal });
    let received = 0;
    await expect(
      (async () => {
        for await (const chunk of res.body) {
          received += (chunk as Buffer).length;
          if (received > 64 * 1024) controller.abort();
        }
      })(),
    ).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await send(pg.url, "/v1/balance");
    expect(after.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const line = pg.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.path === "/v1/reports/slow");
    expect(line).toMatchObject({ flag: "DC", outcome: "stream_broken" });
  });
});

describe("header hygiene", () => {
  it("drops hop-by-hop and Connection-named headers, sets Host and X-Forwarded-*, propagates X-Request-Id", async () => {
    gw.script({ status: 200, headers: { "x-internal": "secret-hop", connection: "x-internal", "keep-alive": "timeout=5" }, body: "ok" });
    // Raw bytes: HTTP clients refuse to send a Connection header naming other headers.
    const raw = await rawExchange(
      pg.url,
      [
        "GET /v1/balance HTTP/1.1",
        `Host: ${new URL(pg.url).host}`,
        "Connection: x-hop, close",
        "X-Hop: must-not-pass",
        "Proxy-Authorization: Basic Zm9vOmJhcg==",
        "X-Forwarded-For: 203.0.113.7",
        "X-Request-Id: req-from-client-1",
        "TE: trailers",
        "",
        "",
      ].join("\r\n"),
    );
    const res = parseRawResponse(raw);
    const seen = gw.requests.at(-1);
    expect(seen?.headers["x-hop"]).toBeUndefined();
    expect(seen?.headers["proxy-authorization"]).toBeUndefined();
    expect(seen?.headers.te).toBeUndefined();
    expect(seen?.headers.host).toBe(new URL(gw.url).host);
    expect(seen?.headers["x-forwarded-for"]).toBe("203.0.113.7, 127.0.0.1");
    expect(seen?.headers["x-forwarded-proto"]).toBe("http");
    expect(seen?.headers["x-forwarded-host"]).toBe(new URL(pg.url).host);
    expect(seen?.headers["x-request-id"]).toBe("req-from-client-1");
    expect(res.headers["x-request-id"]).toBe("req-from-client-1");
    expect(res.headers["x-internal"]).toBeUndefined();
    expect(res.headers["keep-alive"]).not.toBe("timeout=5");
  });

  it("generates an X-Request-Id when the client sends none and gives it to both sides", async () => {
    const res = await send(pg.url, "/v1/balance");
    const id = gw.requests.at(-1)?.headers["x-request-id"];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers["x-request-id"]).toBe(id);
  });

  it("prefixes the upstream base path and never lets the request choose the host", async () => {
    const other = await startInProcess(`${gw.url}/base/`);
    try {
      await send(other.url, "/v1/charges?x=1", { headers: { host: "evil.example", "x-forwarded-host": "evil.example" } });
      const seen = gw.requests.at(-1);
      expect(seen?.url).toBe("/base/v1/charges?x=1");
      expect(seen?.headers.host).toBe(new URL(gw.url).host);
    } finally {
      await other.close();
    }
  });
});
