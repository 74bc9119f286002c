import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { patternBytes, steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { type Answer, json, send } from "../support/http.js";
import { metric } from "../support/metrics.js";
import type { Running } from "../support/payguard.js";
import { until } from "../support/until.js";

// One attempt per request unless a test says otherwise: retries are resilience.test.ts's.
const env = useGateway((extra) => (extra.includes("resilience:") ? extra : `resilience: { retry: { maxAttempts: 1 } }\n${extra}`));
const payguard = env.payguard;
let seq = 0;

const freshKey = () => `key-${process.pid}-${++seq}`;
const TENANT_A = "Bearer sk_test_tenantA";
const TENANT_B = "Bearer sk_test_tenantB";

function pay(pg: Running, key: string | undefined, body: unknown = { amount: 1000, currency: "eur" }, headers: Record<string, string> = {}) {
  return send(pg.url, "/v1/charges", {
    method: "POST",
    headers: { authorization: TENANT_A, "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Requests the gateway saw for one idempotency key. */
const seenWith = (key: string) => env.gw.requests.filter((r) => r.headers["idempotency-key"] === key);

function expectProblem(answer: Answer, status: number, code: string) {
  expect(answer.status).toBe(status);
  expect(answer.headers["content-type"]).toBe("application/problem+json");
  expect(answer.headers["payguard-origin"]).toBe("proxy");
  expect(json(answer)).toMatchObject({ status, code });
}

describe("key checks", () => {
  it("requires a key on POST in required mode (400 idempotency_key_missing), forwarding nothing", async () => {
    const pg = await payguard();
    const before = env.gw.requests.length;
    expectProblem(await pay(pg, undefined), 400, "idempotency_key_missing");
    expect(env.gw.requests.length).toBe(before);
    expect(await metric(pg, "payguard_idempotency_total", { route: "default", result: "missing_key" })).toBe(1);
  });

  it.each([
    ["empty", ""],
    ["too long", "k".repeat(256)],
    ["non-ASCII", "clé-1"],
    ["control character", "a\tb"],
    ["malformed quoted string", '"abc'],
  ])("rejects a %s key with 400 idempotency_key_invalid", async (_name, key) => {
    const pg = await payguard();
    const before = env.gw.requests.length;
    expectProblem(await pay(pg, key), 400, "idempotency_key_invalid");
    expect(env.gw.requests.length).toBe(before);
  });

  it("accepts the sf-string quoted form and the bare form as the same key", async () => {
    const pg = await payguard();
    const key = freshKey();
    const first = await pay(pg, `"${key}"`);
    const second = await pay(pg, key);
    expect(first.status).toBe(200);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(seenWith(key)).toHaveLength(1);
    // The gateway got the bare key.
    expect(seenWith(key)[0]?.headers["idempotency-key"]).toBe(key);
  });

  it("accepts 255 characters and leaves GET, and optional mode without a key, alone", async () => {
    const pg = await payguard("idempotency: { mode: optional }");
    expect((await pay(pg, "k".repeat(255))).status).toBe(200);
    expect((await pay(pg, undefined)).status).toBe(200);
    expect((await send(pg.url, "/v1/charges/ch_1")).status).toBe(200);
  });
});

describe("exactly one charge under concurrency", () => {
  it("100 concurrent requests with one key: the gateway sees one; with wait, all get the same answer", async () => {
    const pg = await payguard();
    const key = freshKey();
    env.gw.script(steps.delay(300, steps.json(201, { id: "ch_once", amount: 1000 }, { location: "/v1/charges/ch_once" })));
    const answers = await Promise.all(Array.from({ length: 100 }, () => pay(pg, key)));
    expect(seenWith(key)).toHaveLength(1);
    for (const a of answers) {
      expect(a.status).toBe(201);
      expect(a.body.toString()).toBe(JSON.stringify({ id: "ch_once", amount: 1000 }));
      expect(a.headers.location).toBe("/v1/charges/ch_once");
    }
    expect(answers.filter((a) => a.headers["idempotent-replayed"] === undefined)).toHaveLength(1);
    expect(await metric(pg, "payguard_idempotency_total", { route: "default", result: "new" })).toBe(1);
    expect(await metric(pg, "payguard_idempotency_total", { route: "default", result: "waited" })).toBe(99);
  });

  it("with reject, one real answer and 409 idempotency_key_in_use with Retry-After for the rest", async () => {
    const pg = await payguard("idempotency: { inFlight: { strategy: reject } }");
    const key = freshKey();
    // The gateway holds its answer until the 99 duplicates have been answered, however slow the machine.
    let refused = 0;
    let openGate = () => {};
    const allRefused = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    env.gw.script(steps.held(allRefused, steps.json(201, { id: "ch_r" })));
    const answers = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const answer = await pay(pg, key);
        if (answer.status === 409 && ++refused === 99) openGate();
        return answer;
      }),
    );
    expect(seenWith(key)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    const conflicts = answers.filter((a) => a.status === 409);
    expect(conflicts).toHaveLength(99);
    expectProblem(conflicts[0] as Answer, 409, "idempotency_key_in_use");
    expect(conflicts[0]?.headers["retry-after"]).toBe("1");
  });

  it("a waiter that outlasts maxWait gets 409, and the stored result afterwards", async () => {
    const pg = await payguard("idempotency: { inFlight: { maxWait: 200ms } }");
    const key = freshKey();
    env.gw.script(steps.delay(700, steps.json(200, { id: "ch_slow" })));
    const first = pay(pg, key);
    await until(() => seenWith(key).length === 1, "the first request has claimed the key and reached the gateway");
    expectProblem(await pay(pg, key), 409, "idempotency_key_in_use");
    expect((await first).status).toBe(200);
    const later = await pay(pg, key);
    expect(later.headers["idempotent-replayed"]).toBe("true");
    expect(seenWith(key)).toHaveLength(1);
  });

  it("renews the lease while the gateway is slow, so a duplicate never takes over a live request", async () => {
    const pg = await payguard("idempotency: { lease: 200ms }");
    const key = freshKey();
    env.gw.script(steps.delay(1000, steps.json(200, { id: "ch_long" })));
    const first = pay(pg, key);
    await until(() => seenWith(key).length === 1, "the first request reached the gateway");
    await sleep(600); // three leases later: only the renewals keep the key
    const duplicate = await pay(pg, key);
    expect((await first).status).toBe(200);
    expect(duplicate.status).toBe(200);
    expect(duplicate.headers["idempotent-replayed"]).toBe("true");
    expect(seenWith(key)).toHaveLength(1);
  });
});

describe("replay", () => {
  it.each([
    ["a 201 with Location", steps.json(201, { id: "pi_1", status: "succeeded" }, { location: "/v1/payment_intents/pi_1", "request-id": "req_gw_1" })],
    ["a 402 decline with a JSON error body", steps.json(402, { error: { type: "card_error", code: "card_declined" } }, { "request-id": "req_gw_2" })],
    ["a non-JSON body", { status: 200, headers: { "content-type": "text/csv; charset=utf-8", "set-cookie": ["s=1"] }, body: "id,amount\nch_1,1000\n" }],
  ])("replays %s byte for byte, with the marker on the replay only", async (_name, step) => {
    const pg = await payguard();
    const key = freshKey();
    env.gw.script(step);
    const first = await pay(pg, key);
    const replay = await pay(pg, key);
    expect(seenWith(key)).toHaveLength(1);
    expect(replay.status).toBe(first.status);
    expect(replay.body.equals(first.body)).toBe(true);
    expect(first.headers["idempotent-replayed"]).toBeUndefined();
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.headers["idempotency-key"]).toBe(key);
    for (const name of ["content-type", "location", "request-id", "set-cookie", "content-length"]) expect(replay.headers[name]).toEqual(first.headers[name]);
    expect(replay.headers["payguard-origin"]).toBeUndefined();
  });

  it("replays the gateway's own X-Request-Id; without one, each delivery carries its request's id", async () => {
    const pg = await payguard();
    const withId = freshKey();
    env.gw.script(steps.json(200, { id: "x" }, { "x-request-id": "gw-xrid-1" }));
    await pay(pg, withId, undefined, { "x-request-id": "client-1" });
    expect((await pay(pg, withId, undefined, { "x-request-id": "client-2" })).headers["x-request-id"]).toBe("gw-xrid-1");
    const withoutId = freshKey();
    await pay(pg, withoutId, undefined, { "x-request-id": "client-3" });
    expect((await pay(pg, withoutId, undefined, { "x-request-id": "client-4" })).headers["x-request-id"]).toBe("client-4");
  });

  it("same key with reordered JSON keys and whitespace is the same request: replayed", async () => {
    const pg = await payguard();
    const key = freshKey();
    const first = await pay(pg, key, '{"amount":1000,"currency":"eur","metadata":{"a":1,"b":2}}');
    const reordered = await pay(pg, key, '{ "metadata": { "b": 2, "a": 1 },\n  "currency": "eur", "amount": 1000 }');
    expect(reordered.headers["idempotent-replayed"]).toBe("true");
    expect(reordered.body.equals(first.body)).toBe(true);
    expect(seenWith(key)).toHaveLength(1);
  });

  it("same key with a different amount is refused with 422 idempotency_key_reused", async () => {
    const pg = await payguard();
    const key = freshKey();
    await pay(pg, key, { amount: 1000, currency: "eur" });
    expectProblem(await pay(pg, key, { amount: 9999, currency: "eur" }), 422, "idempotency_key_reused");
    expect(seenWith(key)).toHaveLength(1);
    expect(await metric(pg, "payguard_idempotency_total", { route: "default", result: "mismatch" })).toBe(1);
  });

  it("ignores the configured JSON pointers in the fingerprint", async () => {
    const pg = await payguard('idempotency: { fingerprint: { ignoreFields: ["/metadata/trace_id"] } }');
    const key = freshKey();
    await pay(pg, key, { amount: 5, metadata: { trace_id: "t1" } });
    const again = await pay(pg, key, { amount: 5, metadata: { trace_id: "t2" } });
    expect(again.headers["idempotent-replayed"]).toBe("true");
  });

  it("the same key on another spelling of the same path is the same request (regression)", async () => {
    const pg = await payguard("idempotency: { upstreamKey: false }");
    const key = freshKey();
    const body = JSON.stringify({ amount: 7 });
    const headers = { authorization: TENANT_A, "content-type": "application/json", "idempotency-key": key };
    const first = await send(pg.url, "/v1/charges", { method: "POST", headers, body });
    for (const spelling of ["/v1/charges/", "/v1/%63harges", "/v1//charges"]) {
      const again = await send(pg.url, spelling, { method: "POST", headers, body });
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.body.equals(first.body)).toBe(true);
    }
    expect(seenWith(key)).toHaveLength(1);
  });

  it("the same key from another Authorization is an independent charge", async () => {
    const pg = await payguard();
    const key = freshKey();
    const a = await pay(pg, key, { amount: 1 }, { authorization: TENANT_A });
    const b = await pay(pg, key, { amount: 1 }, { authorization: TENANT_B });
    expect(seenWith(key)).toHaveLength(2);
    expect(a.headers["idempotent-replayed"]).toBeUndefined();
    expect(b.headers["idempotent-replayed"]).toBeUndefined();
    // ...and each tenant's repeat gets its own answer.
    expect((await pay(pg, key, { amount: 1 }, { authorization: TENANT_B })).body.equals(b.body)).toBe(true);
    expect((await pay(pg, key, { amount: 1 }, { authorization: TENANT_A })).body.equals(a.body)).toBe(true);
  });

  it("never stores 409 or 429 from the gateway: the retry goes upstream again", async () => {
    const pg = await payguard();
    const key = freshKey();
    env.gw.script(steps.rateLimited("1"), steps.json(409, { error: { code: "idempotency_key_in_use" } }), steps.json(200, { id: "ch_ok" }));
    expect((await pay(pg, key)).status).toBe(429);
    expect((await pay(pg, key)).status).toBe(409);
    expect((await pay(pg, key)).status).toBe(200);
    expect(seenWith(key)).toHaveLength(3);
  });
});

describe("large and slow answers (regressions)", () => {
  it("an answer over maxResponseSize streams through to the client intact, and is not replayable", async () => {
    const pg = await payguard("idempotency: { maxResponseSize: 64kb, upstreamKey: false }");
    const key = freshKey();
    env.gw.script({ status: 201, streamBytes: 200 * 1024 });
    const first = await pay(pg, key);
    expect(first.status).toBe(201);
    expect(first.body.equals(patternBytes(200 * 1024))).toBe(true);
    expectProblem(await pay(pg, key), 502, "outcome_indeterminate");
    expect(seenWith(key)).toHaveLength(1);
  });

  it("the lease is renewed while the answer's body is still arriving: a duplicate waits, the gateway sees one", async () => {
    const pg = await payguard("idempotency: { lease: 200ms }");
    const key = freshKey();
    env.gw.script({ status: 200, streamBytes: 10 * 16 * 1024, chunkDelayMs: 100 });
    const first = pay(pg, key);
    await sleep(600); // headers are in, the body trickles for ~900 ms
    const duplicate = await pay(pg, key);
    expect((await first).status).toBe(200);
    expect(duplicate.status).toBe(200);
    expect(duplicate.headers["idempotent-replayed"]).toBe("true");
    expect(duplicate.body.equals((await first).body)).toBe(true);
    expect(seenWith(key)).toHaveLength(1);
  });
});

describe("client hang-up", () => {
  it("the gateway's answer is stored though the client left; the retry gets it without a second call", async () => {
    const pg = await payguard();
    const key = freshKey();
    env.gw.script(steps.delay(500, steps.json(201, { id: "ch_abandoned" })));
    const controller = new AbortController();
    const abandoned = request(`${pg.url}/v1/charges`, {
      method: "POST",
      headers: { authorization: TENANT_A, "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ amount: 1000, currency: "eur" }),
      signal: controller.signal,
    });
    await until(() => seenWith(key).length === 1, "the gateway has the request");
    controller.abort();
    await expect(abandoned).rejects.toThrow();
    // The gateway answers after the client left; payguard stores it all the same.
    await until(
      async () => (await metric(pg, "payguard_idempotency_settlements_total", { route: "default", settlement: "stored" })) === 1,
      "the answer is stored",
    );
    const retry = await pay(pg, key);
    expect(retry.status).toBe(201);
    expect(JSON.parse(retry.body.toString())).toEqual({ id: "ch_abandoned" });
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(seenWith(key)).toHaveLength(1);
  });
});

describe("indeterminate outcomes", () => {
  it("timeout after the gateway charged, with upstreamKey: the retry carries the same upstream key", async () => {
    const pg = await payguard("resilience: { timeout: { attempt: 200ms, total: 1s }, retry: { maxAttempts: 1 } }");
    const key = freshKey();
    env.gw.script(steps.delay(600, steps.json(200, { id: "ch_late" })), steps.json(200, { id: "ch_late" }));
    expectProblem(await pay(pg, key), 504, "upstream_timeout");
    const retry = await pay(pg, key);
    expect(retry.status).toBe(200);
    const seen = seenWith(key);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.headers["idempotency-key"]).toBe(seen[0]?.headers["idempotency-key"]);
  });

  it("timeout after the gateway charged, without upstreamKey: the retry gets outcome_indeterminate, the gateway sees one request", async () => {
    const pg = await payguard("resilience: { timeout: { attempt: 200ms, total: 1s }, retry: { maxAttempts: 1 } }\nidempotency: { upstreamKey: false }");
    const key = freshKey();
    env.gw.script(steps.delay(600, steps.json(200, { id: "ch_late" })));
    const before = env.gw.requests.length;
    expectProblem(await pay(pg, key), 504, "upstream_timeout");
    await sleep(700);
    const retry = await pay(pg, key);
    expectProblem(retry, 502, "outcome_indeterminate");
    expect(env.gw.requests.length - before).toBe(1);
    expect(await metric(pg, "payguard_idempotency_total", { route: "default", result: "indeterminate" })).toBe(1);
  });

  it("a reset after sending, or a 5xx, without upstreamKey is indeterminate too", async () => {
    const pg = await payguard("idempotency: { upstreamKey: false }");
    const k1 = freshKey();
    const k2 = freshKey();
    env.gw.script(steps.reset(), steps.unavailable());
    expectProblem(await pay(pg, k1), 502, "upstream_reset");
    expect((await pay(pg, k2)).status).toBe(503);
    const before = env.gw.requests.length;
    expectProblem(await pay(pg, k1), 502, "outcome_indeterminate");
    expectProblem(await pay(pg, k2), 502, "outcome_indeterminate");
    expect(env.gw.requests.length).toBe(before);
  });

  it("a status in notProcessed, without upstreamKey, releases the key: the client's retry is sent afresh and stored", async () => {
    const pg = await payguard("idempotency: { upstreamKey: false, notProcessed: [503] }");
    const key = freshKey();
    env.gw.script(steps.unavailable(), steps.json(200, { id: "ch_after_503" }));
    const before = env.gw.requests.length;
    expect((await pay(pg, key)).status).toBe(503);
    const retry = await pay(pg, key);
    expect(retry.status).toBe(200);
    expect(json(retry)).toEqual({ id: "ch_after_503" });
    const replay = await pay(pg, key);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(json(replay)).toEqual({ id: "ch_after_503" });
    expect(env.gw.requests.length - before).toBe(2);
  });

  it("a refused connection is a definite failure: the key is released and the retry goes upstream", async () => {
    const down = await payguard("resilience: { retry: { maxAttempts: 1 } }\nidempotency: { upstreamKey: false }", "http://127.0.0.1:9");
    const key = freshKey();
    expectProblem(await pay(down, key), 502, "upstream_unreachable");
    expectProblem(await pay(down, key), 502, "upstream_unreachable");
    expect(await metric(down, "payguard_idempotency_settlements_total", { route: "default", settlement: "released" })).toBe(2);
  });
});

describe("memory store bounds", () => {
  it("answers 503 store_full when every slot holds an in-flight request, without calling the gateway", async () => {
    const pg = await payguard("store: { maxEntries: 2 }");
    env.gw.script(steps.delay(400, steps.json(200, {})), steps.delay(400, steps.json(200, {})));
    const seen = env.gw.requests.length;
    const inFlight = [pay(pg, freshKey()), pay(pg, freshKey())];
    await until(() => env.gw.requests.length === seen + 2, "both slots hold a request at the gateway");
    const before = env.gw.requests.length;
    const full = await pay(pg, freshKey());
    expectProblem(full, 503, "store_full");
    expect(full.headers["retry-after"]).toBe("1");
    expect(env.gw.requests.length).toBe(before);
    for (const r of await Promise.all(inFlight)) expect(r.status).toBe(200);
    expect(await metric(pg, "payguard_store_entries")).toBe(2);
  });
});

describe("retryable on a refusal", () => {
  it("a keyed PUT the gateway cannot dedupe that timed out: retryable false (its repeat is refused), though PUT is idempotent (review finding)", async () => {
    const pg = await payguard(
      "idempotency: { upstreamKey: false, methods: [POST, PUT] }\nresilience: { timeout: { attempt: 100ms, total: 150ms }, retry: { maxAttempts: 1 } }",
    );
    env.gw.script(steps.delay(1000, steps.json(200, { id: "ch_put" })));
    const key = freshKey();
    const put = (k: string) =>
      send(pg.url, "/v1/charges/ch_1", {
        method: "PUT",
        headers: { authorization: TENANT_A, "idempotency-key": k, "content-type": "application/json" },
        body: "{}",
      });
    const first = await put(key);
    expectProblem(first, 504, "upstream_timeout");
    expect(json(first).retryable).toBe(false);
    const repeat = await put(key);
    expectProblem(repeat, 502, "outcome_indeterminate");
    // An idempotent request without a key (DELETE is not in methods): a re-send is safe and not refused.
    env.gw.script(steps.delay(1000, steps.json(200, { id: "ch_put" })));
    const unkeyed = await send(pg.url, "/v1/charges/ch_1", { method: "DELETE", headers: { authorization: TENANT_A } });
    expect(json(unkeyed)).toMatchObject({ code: "upstream_timeout", retryable: true });
  });
});

describe("scope across a key rotation (review finding)", () => {
  const rotated = (pg: Running, key: string, authorization: string, account?: string) =>
    pay(pg, key, { amount: 1000, currency: "eur" }, { authorization, ...(account ? { "payguard-account": account } : {}) });

  it("by default the scope is the Authorization value: a key rotated between a payment and its retry makes a new record", async () => {
    const pg = await payguard("idempotency: { upstreamKey: false }");
    const key = freshKey();
    await rotated(pg, key, "Bearer sk_live_old");
    await rotated(pg, key, "Bearer sk_live_new");
    expect(seenWith(key)).toHaveLength(2);
  });

  it("scoped by an account header the application sets, the retry after a rotation is a replay; the header never reaches the gateway", async () => {
    const pg = await payguard("idempotency: { upstreamKey: false, scope: [payguard-account], requireScope: true }");
    const key = freshKey();
    const first = await rotated(pg, key, "Bearer sk_live_old", "acct_42");
    const retry = await rotated(pg, key, "Bearer sk_live_new", "acct_42");
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.body.equals(first.body)).toBe(true);
    expect(seenWith(key)).toHaveLength(1);
    expect(seenWith(key)[0]?.headers["payguard-account"]).toBeUndefined();
    // Another account with the same key is another payment.
    await rotated(pg, key, "Bearer sk_live_new", "acct_7");
    expect(seenWith(key)).toHaveLength(2);
  });

  it("with requireScope, a keyed request without its scope header is refused, never pooled with others that lack it", async () => {
    const pg = await payguard("idempotency: { scope: [payguard-account], requireScope: true }");
    const key = freshKey();
    const before = env.gw.requests.length;
    const refused = await rotated(pg, key, "Bearer sk_live_x");
    expectProblem(refused, 400, "idempotency_scope_missing");
    expect(json(refused).detail).toContain("payguard-account");
    expect(env.gw.requests.length).toBe(before);
  });

  it.each([
    ["empty", ["", ""]],
    ["whitespace only", ["   ", "\t"]],
  ])(
    "with requireScope, a scope header that is %s counts as missing: two applications with an unset variable never share a namespace",
    async (_name, values) => {
      const pg = await payguard("idempotency: { scope: [payguard-account], requireScope: true }");
      const key = freshKey();
      const before = env.gw.requests.length;
      // Two applications whose PAYGUARD_ACCOUNT is unset pay the same amount with the same key.
      const first = await pay(pg, key, undefined, { authorization: "Bearer sk_live_app1", "payguard-account": values[0] as string });
      const second = await pay(pg, key, undefined, { authorization: "Bearer sk_live_app2", "payguard-account": values[1] as string });
      expect(second.headers["idempotent-replayed"]).toBeUndefined(); // never app1's charge
      expectProblem(first, 400, "idempotency_scope_missing");
      expectProblem(second, 400, "idempotency_scope_missing");
      expect(env.gw.requests.length).toBe(before);
    },
  );

  it("with requireScope, a scope header repeated with every line empty counts as missing", async () => {
    const pg = await payguard("idempotency: { scope: [payguard-account], requireScope: true }");
    const before = env.gw.requests.length;
    // Two empty field lines: Node hands them over joined, as ", " (RFC 9110 §5.3).
    const refused = await send(pg.url, "/v1/charges", {
      method: "POST",
      headers: { authorization: TENANT_A, "content-type": "application/json", "idempotency-key": freshKey(), "payguard-account": ["", " "] as never },
      body: JSON.stringify({ amount: 1000, currency: "eur" }),
    });
    expectProblem(refused, 400, "idempotency_scope_missing");
    expect(env.gw.requests.length).toBe(before);
  });
});
