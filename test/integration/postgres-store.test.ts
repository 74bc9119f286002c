/**
 * PostgreSQL as the system of record, across real replicas: payguard child processes (the
 * CLI, as in production) sharing the machine's PostgreSQL, or a test-owned one that is
 * stopped and started.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Answer, json, send } from "../support/http.js";
import { type Child, startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";
import { SHARED_POSTGRES, startPostgres } from "../support/postgres-server.js";
import { until } from "../support/until.js";

let gw: FakeGateway;
const children: Child[] = [];
const schemas: string[] = [];
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterEach(async () => {
  for (const child of children.splice(0)) child.proc.kill("SIGKILL");
  gw.reset();
});
afterAll(async () => {
  await gw.close();
  const client = new pg.Client(SHARED_POSTGRES);
  await client.connect();
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

function freshSchema(): string {
  const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  schemas.push(schema);
  return schema;
}

/** A replica on `url`/`schema`, with its own journal directory. */
async function replica(url: string, schema: string, extra = ""): Promise<Child> {
  const journal = mkdtempSync(join(tmpdir(), "payguard-journal-"));
  const store = `store: { type: postgres, url: "${url}", postgres: { schema: ${schema} }, operationTimeout: 500ms, journal: { dir: "${journal}" } }`;
  const child = await startChild(writeTempConfig(testConfigYaml(gw.url, `${store}\n${extra}`)));
  children.push(child);
  return child;
}

function pay(base: string, key: string, amount = 1000): Promise<Answer> {
  return send(base, "/v1/charges", {
    method: "POST",
    headers: { authorization: "Bearer sk_test_pg", "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount, currency: "eur" }),
  });
}
const seenWith = (key: string) => gw.requests.filter((r) => r.headers["idempotency-key"] === key);

describe("PostgreSQL store across replicas", () => {
  it("200 concurrent duplicates split over two replicas: one upstream call, identical answers", async () => {
    const schema = freshSchema();
    const [a, b] = [await replica(SHARED_POSTGRES, schema), await replica(SHARED_POSTGRES, schema)];
    const key = `pg-${randomUUID()}`;
    gw.script(steps.delay(300, steps.json(201, { id: "ch_pg", amount: 1000 }, { location: "/v1/charges/ch_pg" })));
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => pay(i % 2 === 0 ? a.url : b.url, key)));
    expect(seenWith(key)).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.status).toBe(201);
      expect(json(answer)).toEqual({ id: "ch_pg", amount: 1000 });
      expect(answer.headers.location).toBe("/v1/charges/ch_pg");
    }
  });
});

describe("PostgreSQL down", () => {
  it("new keys get 503 and reach nobody; an answer given as it died is journaled and written back; a fresh replica replays every answer", async () => {
    const db = await startPostgres();
    try {
      const schema = "payguard";
      const a = await replica(db.url, schema, "resilience: { retry: { maxAttempts: 1 } }");
      const before = [`pg-before-1-${randomUUID()}`, `pg-before-2-${randomUUID()}`];
      for (const key of before) expect((await pay(a.url, key)).status).toBe(200);

      // The gateway answers while PostgreSQL is gone.
      const key = `pg-during-${randomUUID()}`;
      gw.script(steps.delay(600, steps.json(201, { id: "ch_journaled" })));
      const inFlight = pay(a.url, key);
      await until(() => seenWith(key).length === 1, "the gateway has the payment");
      await db.stop("immediate");
      expect((await inFlight).status).toBe(201);

      const sent = gw.requests.length;
      const refused = await pay(a.url, `pg-new-${randomUUID()}`);
      expect(refused.status).toBe(503);
      expect(json(refused)).toMatchObject({ code: "store_unavailable" });
      expect(gw.requests.length).toBe(sent);
      await until(async () => (await send(a.adminUrl, "/readyz")).status === 503, "readiness turns 503");
      expect((await pay(a.url, key)).headers["idempotent-replayed"]).toBe("true");

      // PostgreSQL is back: the journal is written back.
      await db.start();
      await until(async () => /payguard_journal_backlog 0/.test((await send(a.adminUrl, "/metrics")).body.toString()), "the journal is written back", 15_000);

      // A replica with no journal and no memory of any of it replays every answer.
      const fresh = await replica(db.url, schema);
      for (const k of [...before, key]) {
        const again = await pay(fresh.url, k);
        expect(again.headers["idempotent-replayed"], k).toBe("true");
        expect(seenWith(k), k).toHaveLength(1);
      }
      expect(json(await pay(fresh.url, key))).toEqual({ id: "ch_journaled" });
    } finally {
      await db.stop("immediate");
    }
  });
});
