/**
 * The outcome ledger through payguard: every settlement of a keyed request is a row — what
 * the gateway answered, its request id, the response fields the profile picks — readable
 * through the admin API and in plain SQL; never a request body, a secret or card data. The
 * SQL examples of the docs run in doc-examples.test.ts, on SQLite and on PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { startFakeGateway, steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { json, send } from "../support/http.js";
import { startInProcessYaml } from "../support/payguard.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";

const env = useGateway();
const TOKEN = "admin-token-for-the-ledger-tests-0123456789";
const SECRET = "sk_live_51LEDGERsecretNeverKept";
const PAN = "4242424242424242";

function sqliteStore() {
  const path = join(mkdtempSync(join(tmpdir(), "payguard-ledger-")), "payguard.db");
  return { path, yaml: `store: { type: sqlite, path: "${path}" }` };
}
const admin = `admin: { api: { enabled: true, token: "${TOKEN}" } }`;

const pay = (url: string, key: string, body: unknown = { amount: 1000, currency: "usd", card: { number: PAN, cvc: "123" } }) =>
  send(url, "/v1/charges", {
    method: "POST",
    headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify(body),
  });

describe("the outcome ledger (sqlite, stripe profile)", () => {
  it("a row per settlement: completed with the charge's fields and the gateway's request id, released, indeterminate", async () => {
    const { path, yaml } = sqliteStore();
    // completion off: the lost answer's key is released at once (completion.test.ts has the background rows)
    const pg = await env.payguard(
      `${yaml}\n${admin}\nidempotency: { notProcessed: [400, 401, 503], completion: { maxDuration: 0 } }\nresilience: { retry: { maxAttempts: 1 } }`,
      {
        url: env.gw.url,
        gateway: "stripe",
      },
    );
    const since = Date.now() - 1000;
    env.gw.script(
      steps.json(
        200,
        { id: "ch_ledger", object: "charge", amount: 1000, currency: "usd", status: "succeeded", source: { last4: "4242" } },
        { "request-id": "req_ledger" },
      ),
      steps.unavailable(),
      { destroy: "now" },
    );
    for (const key of [randomUUID(), randomUUID(), randomUUID()]) await pay(pg.url, key);

    const answer = await send(pg.adminUrl, `/admin/outcomes?since=${new Date(since).toISOString()}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(200);
    const { outcomes } = json(answer) as { outcomes: Record<string, unknown>[] };
    expect(outcomes.map((o) => o.state)).toEqual(["completed", "released", "released"]);
    expect(outcomes[0]).toMatchObject({
      gateway: "default",
      route: "default",
      method: "POST",
      path: "/v1/charges",
      status: 200,
      attempts: 1,
      gatewayRequestId: "req_ledger",
      fields: { "/id": "ch_ledger", "/object": "charge", "/amount": 1000, "/currency": "usd", "/status": "succeeded" },
      replica: expect.any(String),
    });
    expect(outcomes[1]).toMatchObject({ status: 503 });
    expect(Date.parse(outcomes[0]?.settledAt as string)).toBeGreaterThanOrEqual(since);

    // Plain SQL, and nothing of the request in it.
    const db = new Database(path, { readonly: true });
    const rows = db.prepare("SELECT * FROM ledger ORDER BY id").all();
    expect(rows).toHaveLength(3);
    db.close();
    for (const name of readdirSync(join(path, ".."))) {
      const bytes = readFileSync(join(path, "..", name));
      expect(bytes.includes(SECRET), name).toBe(false);
      expect(bytes.includes(PAN), name).toBe(false);
    }
  });

  it("an indeterminate outcome (no upstream key) is a row, and an operator's resolution another", async () => {
    const { yaml } = sqliteStore();
    const pg = await env.payguard(`${yaml}\n${admin}\nidempotency: { upstreamKey: false }\nresilience: { retry: { maxAttempts: 1 } }`, {
      url: env.gw.url,
      gateway: "stripe",
    });
    const since = Date.now() - 1000;
    env.gw.script({ destroy: "now" });
    const key = randomUUID();
    await pay(pg.url, key);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const list = async () =>
      (json(await send(pg.adminUrl, `/admin/outcomes?since=${since}`, { headers: auth })) as { outcomes: { state: string; record: string; gateway: string }[] })
        .outcomes;
    const [indeterminate] = await list();
    expect(indeterminate?.state).toBe("indeterminate");
    const resolved = await send(pg.adminUrl, `/admin/records/${indeterminate?.record}/resolve`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({
        action: "complete",
        reason: "reconciled with the gateway",
        operator: "ops@example.com",
        response: { status: 200, headers: { "content-type": "application/json" }, body: '{"id":"ch_found"}' },
      }),
    });
    expect(resolved.status).toBe(200);
    expect((await list()).map((o) => [o.state, o.gateway])).toEqual([
      ["indeterminate", "default"],
      ["resolved-by-operator", "default"],
    ]);
    // The operator's answer is the gateway's: its fields are picked as a gateway answer's are.
    expect((await list())[1]).toMatchObject({ status: 200, fields: { "/id": "ch_found" } });
  });

  it("refuses a field pointer through a secret or card field, at its path", async () => {
    const { runCli, writeTempConfig } = await import("../support/payguard.js");
    const file = writeTempConfig('upstream: { url: "http://gw" }\nidempotency: { ledger: { fields: ["/id", "/source/card/number"] } }\n');
    const { code, stderr } = await runCli(["check", "--config", file]);
    expect(code).toBe(1);
    expect(stderr).toContain("idempotency.ledger.fields[1]: names a secret or card field");
  });
});

describe("the ledger names the gateway", () => {
  const schemas = useDroppedSchemas();
  const stores = {
    sqlite: () => sqliteStore().yaml,
    postgres: () => {
      const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
      schemas.push(schema);
      const journal = mkdtempSync(join(tmpdir(), "payguard-journal-"));
      return `store: { type: postgres, url: "${SHARED_POSTGRES}", postgres: { schema: ${schema} }, journal: { dir: "${journal}" } }`;
    },
  };

  for (const [type, store] of Object.entries(stores)) {
    it(`${type}: a record and its ledger rows are enough to act on: the request, the key, why unknown, and the operator's decision`, async () => {
      const pg = await env.payguard(`${store()}\n${admin}\nidempotency: { upstreamKey: false }\nresilience: { retry: { maxAttempts: 1 } }`, {
        url: env.gw.url,
        gateway: "stripe",
      });
      const since = Date.now() - 1000;
      env.gw.script({ destroy: "now" });
      const key = `order-${randomUUID()}`;
      await pay(pg.url, key);
      const auth = { authorization: `Bearer ${TOKEN}` };
      const rows = async () =>
        (json(await send(pg.adminUrl, `/admin/outcomes?since=${since}`, { headers: auth })) as { outcomes: Record<string, unknown>[] }).outcomes;
      const [unknown] = await rows();
      const request = { gateway: "default", route: "default", method: "POST", path: "/v1/charges", key };
      expect(unknown).toMatchObject({ state: "indeterminate", ...request, reason: expect.stringMatching(/\S/) });
      const id = unknown?.record as string;
      const view = json(await send(pg.adminUrl, `/admin/records/${id}`, { headers: auth }));
      expect(view).toMatchObject({ state: "indeterminate", request: { ...request, keyForwarded: false }, reason: unknown?.reason });

      const decision = { action: "release", reason: "INC-51: no charge in the gateway dashboard", operator: "alice@example.com" };
      const released = await send(pg.adminUrl, `/admin/records/${id}/resolve`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(decision),
      });
      expect(released.status).toBe(200);
      expect((await rows())[1]).toMatchObject({
        state: "resolved-by-operator",
        ...request,
        decision: "release",
        reason: decision.reason,
        operator: decision.operator,
      });
    });

    it(`${type}: the same key sent to two gateways is two rows, each naming its gateway; ?gateway= reads one`, async () => {
      const other = await startFakeGateway();
      const pg = await startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, api: { enabled: true, token: "${TOKEN}" } }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
${store()}
resilience: { retry: { maxAttempts: 1 } }
gateways:
  stripe: { url: "${env.gw.url}", port: 0, upstream: { gateway: stripe } }
  adyen: { url: "${other.url}", port: 0, upstream: { gateway: adyen } }
`);
      try {
        env.gw.setDefault(steps.json(200, { id: "ch_two", object: "charge" }));
        other.setDefault(steps.json(200, { pspReference: "PSP_TWO", resultCode: "Authorised" }));
        const since = Date.now() - 1000;
        const key = randomUUID();
        for (const name of ["stripe", "adyen"]) expect((await pay(pg.pg.gatewayUrls[name] as string, key)).status).toBe(200);
        const read = async (query: string) =>
          (
            json(await send(pg.adminUrl, `/admin/outcomes?since=${since}${query}`, { headers: { authorization: `Bearer ${TOKEN}` } })) as {
              outcomes: Record<string, unknown>[];
            }
          ).outcomes;
        const rows = await read("");
        expect(rows.map((o) => [o.gateway, o.route, o.state])).toEqual([
          ["stripe", "stripe/default", "completed"],
          ["adyen", "adyen/default", "completed"],
        ]);
        expect(rows[0]?.record).not.toBe(rows[1]?.record);
        expect((await read("&gateway=adyen")).map((o) => o.fields)).toEqual([{ "/pspReference": "PSP_TWO", "/resultCode": "Authorised" }]);
      } finally {
        await pg.close();
        await other.close();
      }
    });
  }
});
