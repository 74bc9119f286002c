import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { useProxy } from "../support/harness.js";
import { type Answer, json, parseRawResponse, rawExchange, send } from "../support/http.js";
import { startInProcess } from "../support/payguard.js";
import { until } from "../support/until.js";

// Idempotency off: this file is about the proxy's own answers (idempotency.test.ts covers keys).
const env = useProxy("limits: { maxBodySize: 1kb }\nresilience: { timeout: { attempt: 300ms, total: 1s } }\nidempotency: { mode: off }");

function expectProblem(answer: Answer, status: number, code: string) {
  expect(answer.status).toBe(status);
  expect(answer.headers["content-type"]).toBe("application/problem+json");
  expect(answer.headers["payguard-origin"]).toBe("proxy");
  const problem = json(answer);
  expect(problem).toMatchObject({ status, code, type: `urn:payguard:problem:${code}` });
  expect(typeof problem.title).toBe("string");
  expect(problem.requestId).toBe(answer.headers["x-request-id"]);
  return problem;
}

async function freePortThatRefuses(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("payguard is not an open proxy", () => {
  it("rejects an absolute-form request target with 400 absolute_form_rejected and contacts nobody", async () => {
    const before = env.gw.requests.length;
    const raw = await rawExchange(env.pg.url, `GET ${env.gw.url}/v1/charges HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    const res = parseRawResponse(raw);
    expect(res.status).toBe(400);
    expect(res.headers["content-type"]).toBe("application/problem+json");
    expect(JSON.parse(res.body)).toMatchObject({ code: "absolute_form_rejected", status: 400 });
    expect(env.gw.requests.length).toBe(before);
  });

  it("rejects an absolute-form target naming another host", async () => {
    const raw = await rawExchange(env.pg.url, "GET http://169.254.169.254/latest/meta-data HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n");
    expect(parseRawResponse(raw).status).toBe(400);
    expect(JSON.parse(parseRawResponse(raw).body)).toMatchObject({ code: "absolute_form_rejected" });
  });

  it("rejects CONNECT with 400 connect_rejected", async () => {
    const before = env.gw.requests.length;
    const raw = await rawExchange(env.pg.url, "CONNECT api.stripe.com:443 HTTP/1.1\r\nHost: api.stripe.com:443\r\n\r\n");
    const res = parseRawResponse(raw);
    expect(res.status).toBe(400);
    expect(res.headers["payguard-origin"]).toBe("proxy");
    expect(JSON.parse(res.body)).toMatchObject({ code: "connect_rejected", status: 400 });
    expect(env.gw.requests.length).toBe(before);
  });
});

describe("limits", () => {
  it("answers 413 body_too_large for a declared Content-Length over the limit, forwarding nothing", async () => {
    const before = env.gw.requests.length;
    const res = await send(env.pg.url, "/v1/charges", { method: "POST", body: "x".repeat(2048) });
    expectProblem(res, 413, "body_too_large");
    expect(env.gw.requests.length).toBe(before);
  });

  it("answers 413 for a chunked body as soon as it crosses the limit, without reading the rest", async () => {
    const chunk = "x".repeat(600);
    // Four chunks announced; the proxy must answer after the second and close the connection.
    const payload = `POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(chunk.length).toString(16)}\r\n${chunk}\r\n${(chunk.length).toString(16)}\r\n${chunk}\r\n`;
    const raw = await rawExchange(env.pg.url, payload);
    const res = parseRawResponse(raw);
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe("close");
    expect(JSON.parse(res.body.slice(res.body.indexOf("{"), res.body.lastIndexOf("}") + 1))).toMatchObject({ code: "body_too_large" });
  });

  it("accepts a body exactly at the limit", async () => {
    const res = await send(env.pg.url, "/v1/charges", { method: "POST", body: "y".repeat(1024) });
    expect(res.status).toBe(200);
    expect(env.gw.requests.at(-1)?.body.length).toBe(1024);
  });
});

describe("upstream failures", () => {
  it("answers 502 upstream_unreachable when the gateway refuses connections", async () => {
    const port = await freePortThatRefuses();
    const down = await startInProcess(`http://127.0.0.1:${port}`, "idempotency: { mode: off }");
    try {
      const res = await send(down.url, "/v1/charges", { method: "POST", body: "amount=1" });
      const problem = expectProblem(res, 502, "upstream_unreachable");
      expect(res.headers["payguard-flag"]).toBe("UF");
      expect(JSON.stringify(problem)).not.toContain("ECONNREFUSED");
    } finally {
      await down.close();
    }
  });

  it("answers 504 upstream_timeout when the gateway is slower than the attempt timeout", async () => {
    env.gw.script(steps.delay(1500, steps.json(200, { late: true })));
    const started = Date.now();
    const res = await send(env.pg.url, "/v1/charges", { method: "POST", body: "amount=1" });
    expectProblem(res, 504, "upstream_timeout");
    expect(res.headers["payguard-flag"]).toBe("UT");
    expect(Date.now() - started).toBeLessThan(1400);
  });

  it("answers 502 upstream_reset when the gateway drops the connection before answering", async () => {
    env.gw.script(steps.reset());
    const res = await send(env.pg.url, "/v1/charges", { method: "POST", body: "amount=1" });
    expectProblem(res, 502, "upstream_reset");
    expect(res.headers["payguard-flag"]).toBe("UC");
  });

  it("passes gateway 5xx and 429 answers through untouched", async () => {
    env.gw.script(steps.unavailable());
    const unavailable = await send(env.pg.url, "/v1/charges", { method: "POST", body: "a=1" });
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers["payguard-origin"]).toBeUndefined();
    env.gw.script(steps.rateLimited("7"));
    const limited = await send(env.pg.url, "/v1/charges", { method: "POST", body: "a=1" });
    expect(limited.status).toBe(429);
    expect(limited.headers["retry-after"]).toBe("7");
  });
});

describe("answers made before a request reaches the pipeline", () => {
  it("carry the gateway's envelope too, and a request id the log line names (review finding)", async () => {
    const pg = await startInProcess({ url: env.gw.url, gateway: "stripe" });
    try {
      const raw = await rawExchange(pg.url, "CONNECT api.stripe.com:443 HTTP/1.1\r\nHost: api.stripe.com:443\r\n\r\n");
      const res = parseRawResponse(raw);
      const doc = JSON.parse(res.body) as { code: string; requestId: string; error?: { type: string; code: string } };
      expect(doc.error).toMatchObject({ type: "invalid_request_error", code: "connect_rejected" });
      expect(res.headers["stripe-should-retry"]).toBe("false");
      await until(() => pg.logs.some((l) => l.includes(doc.requestId)), "the refusal's log line");
      expect(JSON.parse(pg.logs.find((l) => l.includes(doc.requestId)) ?? "{}")).toMatchObject({ msg: "refused before routing", code: "connect_rejected" });
    } finally {
      await pg.close();
    }
  });
});
