/**
 * OpenTelemetry traces, end to end over real sockets: a client with a `traceparent`, payguard
 * (tracing on, SQLite, a webhook endpoint), a scripted gateway, the service receiving
 * webhooks, and a real OTLP/HTTP receiver decoding what payguard exports.
 *
 * One payment takes two attempts (a 503, then a 200), is replayed, and one webhook event is
 * delivered: the spans form the expected tree, the trace id runs unbroken from the client's
 * `traceparent` to the one each attempt sends the gateway, and the second attempt carries
 * `http.request.resend_count` 1.
 */

import { mkdtempSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { json, rawExchange, send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../support/otlp-receiver.js";
import { type Running, startInProcessYaml } from "../support/payguard.js";
import { until } from "../support/until.js";

const STRIPE_SECRET = "whsec_tracing_test_0123456789";
const stripe = new Stripe("sk_test_tracing");
const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join("");

let gw: FakeGateway;
let otlp: OtlpReceiver;
let service: { url: string; seen: IncomingHttpHeaders[]; server: Server };
const running: Running[] = [];

beforeAll(async () => {
  gw = await startFakeGateway();
  otlp = await startOtlpReceiver();
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on("end", () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  service = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
  gw.reset();
  gw.requests.length = 0;
  otlp.answer = 200;
});
afterAll(async () => {
  await gw.close();
  await otlp.close();
  await new Promise<void>((resolve) => service.server.close(() => resolve()));
});

const TRACING = () => `{ enabled: true, endpoint: "${otlp.endpoint}", scheduledDelay: 20ms }`;
const RESILIENCE = "{ retry: { backoff: { initial: 10ms, max: 20ms } } }";

async function payguard(options: { tracing?: string; resilience?: string; idempotency?: string } = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "payguard-tracing-"));
  const pg = await startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 2s }
store: { type: sqlite, path: "${join(dir, "payguard.db")}" }
gateways:
  stripe: { url: "${gw.url}", upstream: { gateway: stripe } }
resilience: ${options.resilience ?? RESILIENCE}
idempotency: ${options.idempotency ?? "{}"}
routes: [{ name: charges, path: /v1/charges }]
tracing: ${options.tracing ?? TRACING()}
webhooks:
  host: 127.0.0.1
  port: 0
  delivery: { timeout: 1s, lease: 2s, poll: 50ms, backoff: { initial: 20ms, max: 100ms } }
  endpoints:
    - { gateway: stripe, path: /webhooks/stripe, secret: "${STRIPE_SECRET}", deliverTo: "${service.url}/stripe" }
`);
  running.push(pg);
  return pg;
}

function charge(pg: Running, key: string, traceparent: string | undefined, tracestate?: string) {
  return send(pg.url, "/v1/charges", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "idempotency-key": key,
      ...(traceparent ? { traceparent } : {}),
      ...(tracestate ? { tracestate } : {}),
    },
    body: "amount=1000&currency=usd",
  });
}

function postEvent(pg: Running, id: string) {
  const payload = JSON.stringify({ id, object: "event", type: "payment_intent.succeeded", data: { object: { id: `pi_${id}` } } });
  const signature = stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET });
  return send(pg.pg.webhookUrl as string, "/webhooks/stripe", {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": signature },
    body: payload,
  });
}

const inTrace = (traceId: string) => otlp.spans.filter((s) => s.traceId === traceId);
const childrenOf = (parent: ReceivedSpan) => otlp.spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);
const one = (spans: ReceivedSpan[], what: string): ReceivedSpan => {
  expect(spans, what).toHaveLength(1);
  return spans[0] as ReceivedSpan;
};
const parseTraceparent = (value: unknown) => {
  const [version, traceId, parentId, flags] = String(value).split("-");
  return { version, traceId, parentId, flags };
};

describe("traces: one payment from the client to the gateway", () => {
  it("two attempts, a replay and a webhook delivery give the expected span tree, one trace id throughout", async () => {
    const pg = await payguard();
    const traceId = hex(32);
    const clientSpan = hex(16);
    const key = `trace-${hex(8)}`;
    gw.script(steps.unavailable(), steps.json(200, { id: "ch_traced", object: "charge" }, { "request-id": "req_traced" }));

    const first = await charge(pg, key, `00-${traceId}-${clientSpan}-01`, "vendor=abc");
    expect(first.status).toBe(200);
    // The client retries in its own trace: a new span, the same trace.
    const retrySpan = hex(16);
    const replay = await charge(pg, key, `00-${traceId}-${retrySpan}-01`);
    expect(replay.status).toBe(200);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(json(replay)).toEqual({ id: "ch_traced", object: "charge" });
    expect(gw.requests).toHaveLength(2);

    expect((await postEvent(pg, `evt_${hex(8)}`)).status).toBe(200);
    await until(() => service.seen.length === 1, "the service has the event");
    await until(() => otlp.spans.some((s) => s.name === "webhook delivery"), "the delivery span is exported");
    await until(() => inTrace(traceId).some((s) => s.name === "replay"), "the replay's spans are exported");

    // The first request: a SERVER span under the client's span.
    const servers = inTrace(traceId).filter((s) => s.kind === "server");
    expect(servers).toHaveLength(2);
    const server = one(
      servers.filter((s) => s.parentSpanId === clientSpan),
      "the first request's server span",
    );
    expect(server.name).toBe("POST /v1/charges");
    expect(server.attributes).toMatchObject({
      "http.request.method": "POST",
      "url.path": "/v1/charges",
      "url.scheme": "http",
      "http.route": "/v1/charges",
      "http.response.status_code": 200,
      "payguard.gateway": "stripe",
      "payguard.route": "stripe/charges",
      "payguard.idempotency": "new",
      "payguard.outcome": "upstream",
    });
    expect(server.resource["service.name"]).toBe("payguard");

    // Two CLIENT spans, one per attempt; each attempt's traceparent names its own span.
    const attempts = childrenOf(server).filter((s) => s.kind === "client" && s.name === "POST");
    expect(attempts.map((s) => s.attributes["http.response.status_code"])).toEqual([503, 200]);
    expect(attempts[0]?.attributes["http.request.resend_count"]).toBeUndefined();
    expect(attempts[1]?.attributes["http.request.resend_count"]).toBe(1);
    expect(attempts[0]?.statusCode).toBe(2); // a 503 is an error on a client span
    expect(attempts[0]?.attributes["error.type"]).toBe("503");
    for (const a of attempts)
      expect(a.attributes).toMatchObject({ "http.request.method": "POST", "server.address": "127.0.0.1", "url.full": `${gw.url}/v1/charges` });
    const sent = gw.requests.map((r) => parseTraceparent(r.headers.traceparent));
    expect(sent.map((t) => t.traceId)).toEqual([traceId, traceId]);
    expect(sent.map((t) => t.parentId)).toEqual(attempts.map((a) => a.spanId));
    expect(sent.map((t) => t.flags)).toEqual(["01", "01"]);
    expect(gw.requests.map((r) => r.headers.tracestate)).toEqual(["vendor=abc", "vendor=abc"]);

    // The store calls: the claim, then the answer stored, both on SQLite.
    const store = childrenOf(server).filter((s) => s.name.startsWith("store "));
    expect(store.map((s) => s.name)).toEqual(["store claim", "store complete"]);
    for (const s of store) expect(s).toMatchObject({ kind: "client", attributes: { "db.system.name": "sqlite" } });

    // The replay: a SERVER span under the retry's span, with a replay span and no attempt.
    const replayed = one(
      servers.filter((s) => s.parentSpanId === retrySpan),
      "the replay's server span",
    );
    expect(replayed.attributes["payguard.idempotency"]).toBe("replayed");
    expect(replayed.attributes["payguard.outcome"]).toBe("replay");
    expect(childrenOf(replayed).map((s) => s.name)).toEqual(["store claim", "replay"]);

    // The webhook delivery: a CLIENT span of its own trace, its traceparent sent to the service.
    const delivery = one(
      otlp.spans.filter((s) => s.name === "webhook delivery"),
      "the delivery span",
    );
    expect(delivery.kind).toBe("client");
    expect(delivery.parentSpanId).toBeUndefined();
    expect(delivery.attributes).toMatchObject({ "payguard.webhook.gateway": "stripe", "payguard.webhook.attempt": 1, "http.response.status_code": 200 });
    const toService = parseTraceparent(service.seen[0]?.traceparent);
    expect([toService.traceId, toService.parentId]).toEqual([delivery.traceId, delivery.spanId]);

    // The access line names the trace.
    const line = pg.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "request" && l.traceId === traceId);
    expect(line).toBeDefined();
    expect(otlp.contentTypes).toEqual(new Set(["application/json"]));
  });
});

describe("traces: waits, completions and sampling", () => {
  it("a duplicate in flight waits under a span of its own, then is answered from the store", async () => {
    const pg = await payguard();
    const traceId = hex(32);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    gw.script(steps.held(gate, steps.json(200, { id: "ch_waited" })));
    const key = `wait-${hex(8)}`;
    const first = charge(pg, key, `00-${traceId}-${hex(16)}-01`);
    await until(() => gw.requests.length === 1, "the first request reached the gateway");
    const waiterSpan = hex(16);
    const second = charge(pg, key, `00-${traceId}-${waiterSpan}-01`);
    // the duplicate has made its claim (and found the first in flight): only then does the first answer
    await until(
      async () => sample(await metricsText(pg), "payguard_store_operation_duration_seconds_count", { op: "claim", result: "ok" }) === 2,
      "the duplicate claimed",
    );
    open();
    expect((await Promise.all([first, second])).map((a) => a.status)).toEqual([200, 200]);
    await until(() => inTrace(traceId).filter((s) => s.kind === "server").length === 2, "both server spans are exported");
    const waiter = one(
      inTrace(traceId).filter((s) => s.parentSpanId === waiterSpan),
      "the waiter's server span",
    );
    expect(waiter.attributes["payguard.idempotency"]).toBe("waited");
    expect(waiter.attributes["payguard.outcome"]).toBe("replay"); // answered from the store, not by the gateway
    expect(childrenOf(waiter).map((s) => s.name)).toContain("idempotency wait");
    expect(childrenOf(waiter).some((s) => s.name === "POST")).toBe(false); // no attempt of its own
  });

  it("a background completion is a span under the request's, its re-send a client span with resend_count", async () => {
    const pg = await payguard({
      resilience: "{ timeout: { attempt: 150ms, total: 200ms }, retry: { maxAttempts: 1 } }",
      idempotency: "{ completion: { initialDelay: 50ms, maxDelay: 100ms } }",
    });
    const traceId = hex(32);
    gw.script(steps.delay(600, steps.json(200, { id: "ch_late" })), steps.json(200, { id: "ch_late" }));
    const answer = await charge(pg, `late-${hex(8)}`, `00-${traceId}-${hex(16)}-01`);
    expect(answer.status).toBe(504);
    await until(() => inTrace(traceId).some((s) => s.name === "background completion"), "the completion's span is exported", 5000);
    const server = one(
      inTrace(traceId).filter((s) => s.kind === "server"),
      "the server span",
    );
    const completion = one(
      childrenOf(server).filter((s) => s.name === "background completion"),
      "the completion span",
    );
    expect(completion.attributes["payguard.completion"]).toBe("completed");
    const resend = one(
      childrenOf(completion).filter((s) => s.name === "POST"),
      "the re-send",
    );
    expect(resend.attributes).toMatchObject({ "http.request.resend_count": 1, "http.response.status_code": 200 });
    expect(parseTraceparent(gw.requests[1]?.headers.traceparent)).toMatchObject({ traceId, parentId: resend.spanId });
  });

  it("parent-based sampling: a new trace at sampleRatio 0 and a client's unsampled trace export nothing, but still reach the gateway", async () => {
    const pg = await payguard({ tracing: `{ enabled: true, endpoint: "${otlp.endpoint}", scheduledDelay: 20ms, sampleRatio: 0 }` });
    const unsampled = hex(32);
    expect((await send(pg.url, "/v1/balance")).status).toBe(200);
    expect((await send(pg.url, "/v1/balance", { headers: { traceparent: `00-${unsampled}-${hex(16)}-00` } })).status).toBe(200);
    const fresh = parseTraceparent(gw.requests[0]?.headers.traceparent);
    expect(fresh.flags).toBe("00");
    expect(parseTraceparent(gw.requests[1]?.headers.traceparent)).toMatchObject({ traceId: unsampled, flags: "00" });
    // A sampled parent is sampled at any ratio; once its spans are in, the earlier ones would be too.
    const sampled = hex(32);
    expect((await send(pg.url, "/v1/balance", { headers: { traceparent: `00-${sampled}-${hex(16)}-01` } })).status).toBe(200);
    await until(() => inTrace(sampled).length >= 2, "the sampled trace is exported");
    expect(inTrace(unsampled)).toEqual([]);
    expect(inTrace(String(fresh.traceId))).toEqual([]);
  });

  it("tracing off: the client's traceparent reaches the gateway untouched and nothing is exported", async () => {
    const pg = await payguard({ tracing: "{ enabled: false }" });
    const traceparent = `00-${hex(32)}-${hex(16)}-01`;
    const before = otlp.raw.length;
    expect((await send(pg.url, "/v1/balance", { headers: { traceparent, tracestate: "vendor=1" } })).status).toBe(200);
    expect(gw.requests[0]?.headers).toMatchObject({ traceparent, tracestate: "vendor=1" });
    expect(pg.logs.some((l) => l.includes('"traceId"'))).toBe(false);
    expect(otlp.raw.length).toBe(before);
  });
});

describe("traces: export", () => {
  it("a stalled collector: a full queue drops spans and counts them, the export's timeout is counted, requests go on", async () => {
    const pg = await payguard({
      tracing: `{ enabled: true, endpoint: "${otlp.endpoint}", scheduledDelay: 20ms, exportTimeout: 2s, maxQueueSize: 4, maxExportBatchSize: 2 }`,
    });
    otlp.answer = "hang";
    for (let i = 0; i < 3; i++) expect((await charge(pg, `drop-${hex(8)}`, undefined)).status).toBe(200);
    // 3 requests × 4 spans (server, claim, attempt, complete): a batch of 2 in the stalled export, 4 queued, 6 dropped
    // (4 if the requests outlast the export's timeout once)
    expect(sample(await metricsText(pg), "payguard_trace_spans_total", { result: "dropped" })).toBeGreaterThanOrEqual(4);
    await until(async () => (sample(await metricsText(pg), "payguard_trace_spans_total", { result: "export_failed" }) ?? 0) >= 2, "the export times out");
    otlp.answer = 200;
    await until(async () => (sample(await metricsText(pg), "payguard_trace_spans_total", { result: "exported" }) ?? 0) >= 2, "the collector is back");
  });
});

function metricsText(pg: Running): Promise<string> {
  return send(pg.adminUrl, "/metrics").then((a) => a.body.toString());
}

describe("traces: never a secret", () => {
  const SENSITIVE_HEADERS = ["authorization", "proxy-authorization", "cookie", "x-api-key", "stripe-account", "x-session-token", "x-client-secret"];
  const SENSITIVE_FIELDS = ["card", "number", "cvc", "cvv", "pan", "password", "api_key", "client_secret", "token", "security_code"];
  // values long and distinctive enough that finding one in an export cannot be chance
  const secret = fc.stringMatching(/^[A-Za-z0-9]{24,40}$/).map((v) => `S3cr3t${v}`);

  it("no header value, body value, query value or idempotency key appears anywhere in what is exported (property)", async () => {
    const pg = await payguard();
    const [spansBefore, rawBefore] = [otlp.spans.length, otlp.raw.length];
    const values: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(SENSITIVE_HEADERS, { minLength: 1 }),
        fc.subarray(SENSITIVE_FIELDS, { minLength: 1 }),
        fc.array(secret, { minLength: 20, maxLength: 20 }),
        async (headerNames, fieldNames, secrets) => {
          const [key, queryValue, ...rest] = secrets as [string, string, ...string[]];
          const headers: Record<string, string> = { "content-type": "application/json" };
          for (const [i, name] of headerNames.entries()) headers[name] = name === "authorization" ? `Bearer ${rest[i]}` : (rest[i] as string);
          const body = Object.fromEntries(fieldNames.map((name, i) => [name, rest[headerNames.length + i]]));
          headers["idempotency-key"] = key;
          values.push(...Object.values(headers).filter((v) => v.includes("S3cr3t")), ...Object.values(body).map(String), queryValue);
          values.push(key);
          const answer = await send(pg.url, `/v1/charges?token=${queryValue}`, { method: "POST", headers, body: JSON.stringify({ amount: 100, ...body }) });
          expect(answer.status, answer.body.toString()).toBe(200);
          // an absolute-form target with credentials, refused before routing: its span names no path
          const [user, password] = rest.slice(-2) as [string, string];
          values.push(user, password);
          const absolute = await rawExchange(
            pg.url,
            `GET http://${user}:${password}@127.0.0.1/v1/balance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
          );
          expect(absolute).toMatch(/^HTTP\/1\.1 4\d\d/);
        },
      ),
      { numRuns: 25 },
    );
    // shutdown exports every span still queued
    running.splice(running.indexOf(pg), 1);
    await pg.close();
    const mine = otlp.spans.slice(spansBefore).filter((s) => s.kind === "server");
    // the control: the export holds every one of these requests' server spans (25 charges, 25 refused)
    expect(mine.filter((s) => s.attributes["url.path"] === "/v1/charges")).toHaveLength(25);
    expect(mine).toHaveLength(50);
    const exported = otlp.raw.slice(rawBefore).join("\n");
    const found = values.filter((v) => exported.includes(v.replace(/^Bearer /, "")));
    expect(found).toEqual([]);
  });
});
