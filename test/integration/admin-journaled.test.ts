/**
 * The admin records API on PostgreSQL for a record waiting in the journal: a real payment whose
 * outcome is unknown, whose indeterminate record PostgreSQL refuses (a check constraint, as it
 * would refuse any value) while it answers everything else — so the record stays journaled,
 * deterministically, until the operator resolves it.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Answer, json, send } from "../support/http.js";
import { type Running, startInProcess } from "../support/payguard.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";
import { until } from "../support/until.js";

const TOKEN = "adm_journaled_0123456789abcdef01234567";
const TENANT = "Bearer sk_test_admin_journaled";
const schemas = useDroppedSchemas();

let gw: FakeGateway;
let db: pg.Client;
const running: Running[] = [];
beforeAll(async () => {
  gw = await startFakeGateway();
  db = new pg.Client(SHARED_POSTGRES);
  await db.connect();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
  gw.reset();
});
afterAll(async () => {
  await db.end();
  await gw.close();
});

/** payguard on a fresh schema of the machine's PostgreSQL; a short lease, no upstream key (a reset is indeterminate). */
async function payguard(schema: string): Promise<Running> {
  const journal = mkdtempSync(join(tmpdir(), "payguard-admin-journaled-"));
  const proxy = await startInProcess(
    gw.url,
    `
admin: { api: { enabled: true, token: "${TOKEN}" } }
resilience: { retry: { maxAttempts: 1 } }
idempotency: { upstreamKey: false, lease: 1s }
routes: [ { name: charges, methods: [POST], path: /v1/charges } ]
store: { type: postgres, url: "${SHARED_POSTGRES}", postgres: { schema: ${schema} }, operationTimeout: 1s, journal: { dir: "${journal}", fsync: false } }
`,
  );
  running.push(proxy);
  return proxy;
}

const pay = (proxy: Running, key: string): Promise<Answer> =>
  send(proxy.url, "/v1/charges", {
    method: "POST",
    headers: { authorization: TENANT, "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount: 1000, currency: "eur" }),
  });
const admin = (proxy: Running, path: string, init: { method?: string; body?: unknown } = {}): Promise<Answer> =>
  send(proxy.adminUrl, path, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", "payguard-scope-authorization": TENANT },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });

describe("admin records API on PostgreSQL: a journaled record", () => {
  it("resolved, it is shown where it lives now — source postgres, not redis (regression)", async () => {
    const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
    schemas.push(schema);
    const proxy = await payguard(schema);
    const records = `${schema}.records`;
    await until(async () => (await db.query("SELECT to_regclass($1) AS t", [records])).rows[0]?.t !== null, "payguard has made its tables");
    // PostgreSQL takes claims and completed answers, and refuses an indeterminate record.
    await db.query(`ALTER TABLE ${records} ADD CONSTRAINT refuse_indeterminate CHECK (state <> 'indeterminate')`);

    const key = `journaled-${randomUUID()}`;
    gw.script(steps.reset());
    const answer = await pay(proxy, key);
    expect(answer.status).toBe(502);
    const sent = gw.requests.length;
    const looked = await admin(proxy, `/admin/records?method=POST&path=/v1/charges&key=${key}`);
    expect(looked.status).toBe(200);
    expect(json(looked)).toMatchObject({ state: "indeterminate", source: "journal" });
    const id = json(looked).id as string;

    // Resolvable once the owner's lease has run out (nothing renews a settled key).
    const NOW = "(floor(extract(epoch from clock_timestamp()) * 1000))::bigint";
    await until(async () => (await db.query(`SELECT lease_until < ${NOW} AS dead FROM ${records}`)).rows[0]?.dead === true, "the owner's lease has run out");
    const resolved = await admin(proxy, `/admin/records/${id}/resolve`, {
      method: "POST",
      body: {
        action: "complete",
        reason: "INC-7: ch_journaled in the dashboard",
        operator: "ops@example.com",
        response: { status: 201, body: '{"id":"ch_journaled"}' },
      },
    });
    expect(resolved.status, resolved.body.toString()).toBe(200);
    expect(json(resolved)).toMatchObject({ id, resolution: "complete", record: { id, state: "completed", status: 201, source: "postgres" } });

    // The answer's view and a later look agree: the record is in PostgreSQL, and replayed from there.
    expect(json(await admin(proxy, `/admin/records/${id}`))).toMatchObject({ id, state: "completed", source: "postgres" });
    const repeat = await pay(proxy, key);
    expect(repeat.status).toBe(201);
    expect(repeat.headers["idempotent-replayed"]).toBe("true");
    expect(gw.requests.length).toBe(sent);
  });
});
