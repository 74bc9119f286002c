/**
 * The admin records API over real HTTP, against the memory, SQLite and Redis stores: an
 * indeterminate payment is made for real (the gateway resets the connection after the
 * request, no upstream key), found (list, id, client key), and resolved. A journaled record
 * on PostgreSQL: admin-journaled.test.ts.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Answer, json, send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import { type Running, startInProcessYaml } from "../support/payguard.js";

const REDIS_URL = process.env.PAYGUARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const TOKEN = "adm_0123456789abcdef0123456789abcdef";
const TENANT = "Bearer sk_test_admin_api";

let gw: FakeGateway;
const running: Running[] = [];
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
  gw.reset();
});
afterAll(async () => {
  await gw.close();
});

function yaml(store: string, api: string): string {
  return `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, api: ${api} }
upstream: { url: "${gw.url}", requestId: { header: request-id } }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
log: { level: info }
resilience: { retry: { maxAttempts: 1 } }
idempotency: { upstreamKey: false }
routes: [ { name: charges, methods: [POST], path: /v1/charges } ]
${store}`;
}

const STORES = {
  memory: () => "store: { type: memory }",
  sqlite: () => `store: { type: sqlite, path: "${join(mkdtempSync(join(tmpdir(), "payguard-admin-")), "payguard.db")}" }`,
  redis: () =>
    `store: { type: redis, url: "${REDIS_URL}", prefix: "pgtest-${randomUUID()}", operationTimeout: 1s, journal: { dir: "${mkdtempSync(join(tmpdir(), "payguard-admin-"))}", fsync: false } }`,
};

describe.each(Object.keys(STORES) as (keyof typeof STORES)[])("admin records API (%s store)", (storeType) => {
  async function payguard(api = `{ enabled: true, token: "${TOKEN}" }`): Promise<Running> {
    const pg = await startInProcessYaml(yaml(STORES[storeType](), api));
    running.push(pg);
    return pg;
  }

  const admin = (pg: Running, path: string, init: { method?: string; headers?: Record<string, string>; body?: string; token?: string | null } = {}) =>
    send(pg.adminUrl, path, {
      method: init.method ?? "GET",
      headers: { ...(init.token === null ? {} : { authorization: `Bearer ${init.token ?? TOKEN}` }), ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
    });
  const resolve = (pg: Running, id: string, body: unknown) =>
    admin(pg, `/admin/records/${id}/resolve`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  const pay = (pg: Running, key: string, amount = 1000) =>
    send(pg.url, "/v1/charges", {
      method: "POST",
      headers: { authorization: TENANT, "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({ amount, currency: "eur" }),
    });

  /** A payment whose outcome is unknown: the gateway got it, then the connection dropped. */
  async function indeterminatePayment(pg: Running): Promise<{ key: string; id: string; requestId: string }> {
    const key = `pay-${randomUUID()}`;
    const requestId = `req-${randomUUID()}`;
    gw.script(steps.reset());
    const answer = await send(pg.url, "/v1/charges", {
      method: "POST",
      headers: { authorization: TENANT, "content-type": "application/json", "idempotency-key": key, "x-request-id": requestId },
      body: JSON.stringify({ amount: 1000, currency: "eur" }),
    });
    expectProblem(answer, 502, "upstream_reset");
    // The access line names the record: from a request id in the logs to the record id.
    const line = (await logLines(pg)).find((l) => l.msg === "request" && l.reqId === requestId);
    expect(line?.record).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return { key, id: line?.record as string, requestId };
  }

  /** Pages through a listing (a shared Redis may hold many other keys) until `id` turns up. */
  async function findListed(pg: Running, state: string, id: string): Promise<{ answer: Answer; view: Record<string, unknown> | undefined }> {
    let cursor: string | undefined;
    for (let pages = 0; pages < 10_000; pages++) {
      const answer = await admin(pg, `/admin/records?state=${state}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(answer.status).toBe(200);
      const page = json(answer);
      const view = (page.records as Record<string, unknown>[]).find((r) => r.id === id);
      cursor = page.nextCursor as string | undefined;
      if (view || !cursor) return { answer, view };
    }
    throw new Error("listing did not end");
  }

  async function logLines(pg: Running): Promise<Record<string, unknown>[]> {
    // Access lines are written once the response has finished: give the event loop a turn.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return pg.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  const audits = async (pg: Running) => (await logLines(pg)).filter((l) => l.audit === true);
  const metric = async (pg: Running, labels: Record<string, string>) =>
    sample((await send(pg.adminUrl, "/metrics")).body.toString(), "payguard_admin_actions_total", labels);

  it("401 without a token, with a wrong one or another scheme, audited at warn with the action; 200 with the token", async () => {
    const pg = await payguard();
    for (const auth of [null, "Bearer wrong-token", `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${TOKEN}`, TOKEN]) {
      const answer = await send(pg.adminUrl, "/admin/records?state=indeterminate", { headers: auth === null ? {} : { authorization: auth } });
      expectProblem(answer, 401, "admin_unauthorized");
      expect(answer.headers["www-authenticate"]).toBe('Bearer realm="payguard-admin"');
    }
    expectProblem(await admin(pg, "/admin/records/abc/resolve", { method: "POST", token: "nope", body: "{}" }), 401, "admin_unauthorized");
    expect((await admin(pg, "/admin/records?state=indeterminate")).status).toBe(200);

    const lines = await audits(pg);
    const refused = lines.filter((l) => l.status === 401);
    expect(refused).toHaveLength(7);
    for (const l of refused) expect(l).toMatchObject({ level: "warn", audit: true, result: "unauthorized", remote: "127.0.0.1" });
    expect(refused.at(-1)?.action).toBe("resolve");
    expect(refused.at(-1)?.record).toBeUndefined();
    expect(lines.at(-1)).toMatchObject({ level: "info", action: "list", result: "ok", status: 200 });
    // The token never reaches the log, nor does a wrong one.
    for (const raw of pg.logs) expect(raw).not.toContain(TOKEN.slice(4));
    expect(await metric(pg, { action: "list", result: "unauthorized" })).toBe(6);
    expect(await metric(pg, { action: "resolve", result: "unauthorized" })).toBe(1);
    expect(await metric(pg, { action: "list", result: "ok" })).toBe(1);
  });

  it("every call under /admin is audited, whatever its method: a token guessed by HEAD or PUT leaves a trail (review finding)", async () => {
    const pg = await payguard();
    const before = (await audits(pg)).length;
    for (const method of ["HEAD", "PUT", "DELETE", "POST", "PATCH"]) {
      const answer = await send(pg.adminUrl, "/admin/records/abc", { method, headers: { authorization: "Bearer wrong-token" } });
      expect(answer.status).toBe(401);
    }
    expect((await send(pg.adminUrl, "/admin/anything", { headers: { authorization: "Bearer wrong-token" } })).status).toBe(401);
    const lines = (await audits(pg)).slice(before);
    expect(lines.map((l) => l.action)).toEqual(["get", "other", "other", "other", "other", "other"]);
    for (const l of lines) expect(l).toMatchObject({ level: "warn", result: "unauthorized", status: 401 });
    expect(await metric(pg, { action: "other", result: "unauthorized" })).toBe(5);
  });

  it("is absent (404) unless admin.api.enabled; a reload turns it on and rotates the token", async () => {
    const pg = await payguard("{ enabled: false }");
    const off = await admin(pg, "/admin/records?state=indeterminate");
    expect(off.status).toBe(404);
    expect(off.headers["content-type"]).not.toContain("problem");
    expect(await audits(pg)).toHaveLength(0);
    expect((await send(pg.adminUrl, "/healthz")).status).toBe(200);

    const rotated = "adm_rotated_rotated_rotated_rotated_0001";
    const reload = (api: string) => pg.pg.reload(parseConfig(yaml("", api).replace(/^store:.*$/m, ""), {}));
    // Keep the running store section: reload only swaps the admin.api settings here.
    reload(`{ enabled: true, token: "${TOKEN}" }`);
    expect((await admin(pg, "/admin/records?state=indeterminate")).status).toBe(200);
    reload(`{ enabled: true, token: "${rotated}" }`);
    expectProblem(await admin(pg, "/admin/records?state=indeterminate"), 401, "admin_unauthorized");
    expect((await admin(pg, "/admin/records?state=indeterminate", { token: rotated })).status).toBe(200);
  });

  it("finds an indeterminate payment by listing, by id and by the client's key, without the owner token or body", async () => {
    const pg = await payguard();
    const { key, id } = await indeterminatePayment(pg);

    const { answer: listed, view } = await findListed(pg, "indeterminate", id);
    expect(view).toMatchObject({ id, state: "indeterminate", attempts: 1, source: storeType });
    expect(view?.reason).toMatch(/reset/);
    expect(Date.parse(view?.createdAt as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(view?.expiresAt as string)).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect((await findListed(pg, "completed", id)).view).toBeUndefined();

    const byId = await admin(pg, `/admin/records/${id}`);
    expect(byId.status).toBe(200);
    expect(stable(json(byId))).toEqual(stable(view));

    const lookup = (headers: Record<string, string>, path = "/v1/charges", k = key) =>
      admin(pg, `/admin/records?method=post&path=${encodeURIComponent(path)}&key=${encodeURIComponent(k)}`, { headers });
    const found = await lookup({ "payguard-scope-authorization": TENANT });
    expect(found.status).toBe(200);
    expect(stable(json(found))).toEqual(stable(view));
    // Another spelling of the path and the quoted key are the same record.
    expect(json(await lookup({ "payguard-scope-authorization": TENANT }, "/v1//charges/?x=1", `"${key}"`)).id).toBe(id);
    // Another tenant's scope is another record.
    expectProblem(await lookup({ "payguard-scope-authorization": "Bearer sk_other" }), 404, "record_not_found");
    expectProblem(await lookup({}), 404, "record_not_found");
    expectProblem(await admin(pg, `/admin/records/${id}?include=body`), 403, "admin_forbidden");
    expectProblem(await admin(pg, "/admin/records/not-a-record"), 404, "record_not_found");
    expectProblem(await admin(pg, "/admin/records/bad%20id"), 400, "admin_invalid_request");
    expectProblem(await admin(pg, "/admin/records"), 400, "admin_invalid_request");
    expectProblem(await admin(pg, "/admin/records?state=indeterminate&limit=1001"), 400, "admin_invalid_request");
    expectProblem(await admin(pg, "/admin/records?state=indeterminate&cursor=bogus"), 400, "admin_invalid_request");

    for (const raw of [listed, byId, found]) expect(raw.body.toString()).not.toMatch(/token/i);
    const lines = await audits(pg);
    expect(lines.find((l) => l.action === "get" && l.status === 200)).toMatchObject({ record: id, result: "ok", level: "info" });
    expect(lines.find((l) => l.action === "lookup" && l.status === 200)).toMatchObject({ record: id, result: "ok" });
    expect(lines.find((l) => l.action === "get" && l.status === 403)).toMatchObject({ record: id, result: "forbidden" });
    for (const raw of pg.logs.filter((l) => l.includes('"audit":true'))) expect(raw).not.toContain("sk_test_admin_api");
    expect(await metric(pg, { action: "lookup", result: "not_found" })).toBe(2);
  });

  it("lists page by page with a cursor", async () => {
    const pg = await payguard();
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) ids.add((await indeterminatePayment(pg)).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = json(await admin(pg, `/admin/records?state=indeterminate&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`));
      const records = page.records as { id: string }[];
      expect(records.length).toBeLessThanOrEqual(1);
      seen.push(...records.map((r) => r.id).filter((id) => ids.has(id)));
      cursor = page.nextCursor as string | undefined;
    } while (cursor && ++pages < 10_000);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it("resolve complete: the client's repeat gets the operator's answer, replayed; the gateway sees nothing new", async () => {
    const pg = await payguard();
    const { key, id } = await indeterminatePayment(pg);
    expectProblem(await pay(pg, key), 502, "outcome_indeterminate");
    const before = gw.requests.length;

    const answer = { id: "ch_from_dashboard", status: "succeeded", amount: 1000 };
    const resolved = await resolve(pg, id, {
      action: "complete",
      reason: "INC-42: charge ch_from_dashboard found in the gateway dashboard",
      operator: "alice@example.com",
      response: { status: 201, headers: { "content-type": "application/json", location: "/v1/charges/ch_from_dashboard" }, body: JSON.stringify(answer) },
    });
    expect(resolved.status).toBe(200);
    expect(json(resolved)).toMatchObject({ id, resolution: "complete", record: { id, state: "completed", status: 201, attempts: 1 } });

    const repeat = await pay(pg, key);
    expect(repeat.status).toBe(201);
    expect(repeat.headers["idempotent-replayed"]).toBe("true");
    expect(repeat.headers.location).toBe("/v1/charges/ch_from_dashboard");
    expect(JSON.parse(repeat.body.toString())).toEqual(answer);
    expect(gw.requests.length).toBe(before);
    // Another payload under the key is still refused.
    expectProblem(await pay(pg, key, 5), 422, "idempotency_key_reused");

    // Now completed: shown as such, and not resolvable again.
    const view = json(await admin(pg, `/admin/records/${id}`));
    expect(view).toMatchObject({ state: "completed", status: 201, bodyBytes: JSON.stringify(answer).length });
    expect(view.body).toBeUndefined();
    expectProblem(await resolve(pg, id, { action: "release", reason: "oops", operator: "ops@example.com" }), 409, "record_not_resolvable");

    const lines = await audits(pg);
    expect(lines.find((l) => l.action === "resolve" && l.status === 200)).toMatchObject({
      record: id,
      result: "ok",
      resolution: "complete",
      reason: "INC-42: charge ch_from_dashboard found in the gateway dashboard",
      operator: "alice@example.com",
      level: "info",
    });
    expect(lines.find((l) => l.action === "resolve" && l.status === 409)).toMatchObject({ result: "conflict", resolution: "release" });
    for (const raw of pg.logs.filter((l) => l.includes('"audit":true'))) expect(raw).not.toContain('ch_from_dashboard\\",');
    expect(await metric(pg, { action: "resolve", result: "ok" })).toBe(1);
    expect(await metric(pg, { action: "resolve", result: "conflict" })).toBe(1);
  });

  it("a record is enough to act on: its request, the client's key and the gateway's id for its answer", async () => {
    const pg = await payguard();
    const { key, id } = await indeterminatePayment(pg);
    const request = { method: "POST", path: "/v1/charges", route: "charges", gateway: "default", key, keyForwarded: false };
    expect(json(await admin(pg, `/admin/records/${id}`))).toMatchObject({ state: "indeterminate", request });

    const paid = `pay-${randomUUID()}`;
    gw.script(steps.json(201, { id: "ch_act" }, { "request-id": "req_act_on" }));
    expect((await pay(pg, paid)).status).toBe(201);
    const lookup = `/admin/records?method=POST&path=/v1/charges&key=${paid}`;
    const view = json(await admin(pg, lookup, { headers: { "payguard-scope-authorization": TENANT } }));
    expect(view).toMatchObject({ state: "completed", request: { ...request, key: paid }, gatewayRequestId: "req_act_on" });

    // The ledger: its rows where the store keeps one, else a problem that says so.
    const outcomes = await admin(pg, `/admin/outcomes?since=${Date.now() - 60_000}`);
    if (storeType === "sqlite") expect(outcomes.status).toBe(200);
    else expectProblem(outcomes, 501, "ledger_not_kept");
    const audited = (await audits(pg)).filter((l) => l.action === "outcomes");
    expect(audited).toEqual([expect.objectContaining({ result: storeType === "sqlite" ? "ok" : "not_supported" })]);
  });

  it("resolve release: the client's retry goes to the gateway afresh", async () => {
    const pg = await payguard();
    const { key, id } = await indeterminatePayment(pg);
    const before = gw.requests.length;
    const released = await resolve(pg, id, { action: "release", reason: "INC-43: no charge in the gateway dashboard", operator: "ops@example.com" });
    expect(released.status).toBe(200);
    expect(json(released)).toEqual({ id, resolution: "release", record: null });
    expectProblem(await admin(pg, `/admin/records/${id}`), 404, "record_not_found");

    gw.script(steps.json(201, { id: "ch_retry" }));
    const retry = await pay(pg, key);
    expect(retry.status).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBeUndefined();
    expect(gw.requests.length).toBe(before + 1);
    // And that answer is the record now.
    expect(json(await admin(pg, `/admin/records/${id}`))).toMatchObject({ state: "completed", status: 201, attempts: 1 });
    expect((await audits(pg)).find((l) => l.action === "resolve")).toMatchObject({ record: id, resolution: "release", result: "ok" });
  });

  it("resolve refuses what it must: a completed record (409), an unknown id (404), a bad body (400)", async () => {
    const pg = await payguard();
    const key = `pay-${randomUUID()}`;
    gw.script(steps.json(201, { id: "ch_ok" }));
    const ok = await pay(pg, key);
    expect(ok.status).toBe(201);
    const id = json(await admin(pg, `/admin/records?method=POST&path=/v1/charges&key=${key}`, { headers: { "payguard-scope-authorization": TENANT } }))
      .id as string;
    const complete = { action: "complete", reason: "r", operator: "ops@example.com", response: { status: 200, body: "{}" } };
    expectProblem(await resolve(pg, id, complete), 409, "record_not_resolvable");
    expectProblem(await resolve(pg, id, { action: "release", reason: "r", operator: "ops@example.com" }), 409, "record_not_resolvable");
    expect((await pay(pg, key)).headers["idempotent-replayed"]).toBe("true");
    expectProblem(await resolve(pg, "unknownRecordId", complete), 404, "record_not_found");

    const { id: open } = await indeterminatePayment(pg);
    const who = { operator: "ops@example.com" };
    for (const bad of [
      { action: "release", ...who },
      { action: "release", reason: "  ", ...who },
      { action: "release", reason: "r" },
      { action: "forget", reason: "r", ...who },
      { action: "complete", reason: "r", ...who },
      { action: "complete", reason: "r", ...who, response: { status: 100 } },
      { action: "complete", reason: "r", ...who, response: { status: 200, body: "a", bodyBase64: "YQ==" } },
      { action: "complete", reason: "r", ...who, response: { status: 200, headers: { "content-length": "5" } } },
      { action: "complete", reason: "r", ...who, response: { status: 200, headers: { "x-a": "evil\r\nset-cookie: x" } } },
      { action: "complete", reason: "r", ...who, response: { status: 200, bodyBase64: "not base64!" } },
    ]) {
      expectProblem(await resolve(pg, open, bad), 400, "admin_invalid_request");
    }
    // Each says what is missing, in words an operator can act on.
    const detail = async (body: object) => json(await resolve(pg, open, body)).detail;
    expect(await detail({ action: "release", ...who })).toBe("reason: is required: say why (it goes to the ledger and the audit log)");
    expect(await detail({ action: "release", reason: "r" })).toMatch(/^operator: is required: say who decides/);
    expect(await detail({ reason: "r", ...who })).toMatch(/^action: is required: "release" .* or "complete"/);
    expectProblem(
      await admin(pg, `/admin/records/${open}/resolve`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" }),
      400,
      "admin_invalid_request",
    );
    // Still indeterminate after all that.
    expect(json(await admin(pg, `/admin/records/${open}`)).state).toBe("indeterminate");
    expect(await metric(pg, { action: "resolve", result: "invalid" })).toBe(14);
    expect(await metric(pg, { action: "resolve", result: "not_found" })).toBe(1);
  });

  it("with revealBodies, include=body shows the stored body (text, or base64 when not UTF-8)", async () => {
    const pg = await payguard(`{ enabled: true, token: "${TOKEN}", revealBodies: true }`);
    const { id } = await indeterminatePayment(pg);
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x01]);
    await resolve(pg, id, {
      action: "complete",
      reason: "binary answer",
      operator: "ops@example.com",
      response: { status: 200, headers: { "content-type": "application/octet-stream", "set-cookie": ["s=1"] }, bodyBase64: binary.toString("base64") },
    });
    const hidden = json(await admin(pg, `/admin/records/${id}`));
    expect(hidden).toMatchObject({ bodyBytes: 4, headers: { "content-type": "application/octet-stream" } });
    expect(hidden.bodyBase64).toBeUndefined();
    expect((hidden.headers as Record<string, unknown>)["set-cookie"]).toBeUndefined();
    const shown = json(await admin(pg, `/admin/records/${id}?include=body`));
    expect(shown).toMatchObject({ bodyBase64: binary.toString("base64"), headers: { "set-cookie": ["s=1"] } });

    const key = `pay-${randomUUID()}`;
    gw.script(steps.json(201, { id: "ch_text" }));
    await pay(pg, key);
    const textId = json(await admin(pg, `/admin/records?method=POST&path=/v1/charges&key=${key}`, { headers: { "payguard-scope-authorization": TENANT } })).id;
    expect(json(await admin(pg, `/admin/records/${textId}?include=body`)).body).toBe(JSON.stringify({ id: "ch_text" }));
  });
});

/** A view without expiresAt, which Redis reports as a TTL (so it moves by a millisecond or two). */
function stable(view: Record<string, unknown> | undefined): Record<string, unknown> {
  const { expiresAt: _expiresAt, ...rest } = view ?? {};
  return rest;
}

function expectProblem(answer: Answer, status: number, code: string) {
  expect({ status: answer.status, body: answer.body.toString() }).toMatchObject({ status });
  expect(answer.headers["content-type"]).toBe("application/problem+json");
  expect(json(answer)).toMatchObject({ status, code });
}
