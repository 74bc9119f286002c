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
import { sample } from "../support/metrics.js";
import { type Child, startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";
import { SHARED_POSTGRES, startPostgres, startStandby } from "../support/postgres-server.js";
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

const freshJournal = () => mkdtempSync(join(tmpdir(), "payguard-journal-"));

/** A replica on `url`/`schema`, with its own journal directory unless given one; store operations time out at 500 ms unless told. */
async function replica(url: string, schema: string, extra = "", journal = freshJournal(), operationTimeout = "500ms"): Promise<Child> {
  const store = `store: { type: postgres, url: "${url}", postgres: { schema: ${schema} }, operationTimeout: ${operationTimeout}, journal: { dir: "${journal}" } }`;
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
    // A slow store is not the point here: a loaded machine's slow operation must not be a 503.
    const slowOk = (): Promise<Child> => replica(SHARED_POSTGRES, schema, "", freshJournal(), "5s");
    const [a, b] = [await slowOk(), await slowOk()];
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

/** Cancels the batched completion (`UPDATE … FROM unnest`) that waits on a row lock: SQLSTATE 57014. */
const CANCEL_WAITING_COMPLETION = `SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity
  WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE '%unnest%' AND query LIKE '%UPDATE%'`;

/** Sessions of their own on `url`: one holds a record's row, one watches and cancels. */
async function sessions(url: string): Promise<{ locker: pg.Client; watcher: pg.Client; end(): Promise<void> }> {
  const [locker, watcher] = [new pg.Client(url), new pg.Client(url)];
  await Promise.all([locker.connect(), watcher.connect()]);
  return { locker, watcher, end: () => Promise.all([locker.end(), watcher.end()]).then(() => {}) };
}

/**
 * Pays `key` through `base` and makes its completion fail with the database up: another session
 * holds the record's row, and the completion waiting on it is cancelled by the server — as its
 * statement_timeout does when it fires first (a lock held past operationTimeout). The row stays
 * locked (the locker's transaction open); returns the client's answer.
 */
async function payWithFailedCompletion(base: string, key: string, s: { locker: pg.Client; watcher: pg.Client }, schema: string): Promise<Answer> {
  gw.script(steps.delay(600, steps.json(201, { id: "ch_locked" })));
  const paying = pay(base, key);
  await until(() => seenWith(key).length === 1, "the gateway has the payment");
  await s.locker.query("BEGIN");
  // The test's own database: the one record in flight is this payment's (its key is a hash).
  expect((await s.locker.query(`SELECT 1 FROM ${schema}.records WHERE state = 'in-flight' FOR UPDATE`)).rowCount).toBe(1);
  await until(
    // Outside the locker's transaction, whose view of pg_stat_activity is a snapshot.
    async () => (await s.watcher.query(CANCEL_WAITING_COMPLETION)).rows.some((row) => row.cancelled === true),
    "the completion waits on the row and is cancelled",
  );
  return paying;
}

const ledgerOf = async (client: pg.Client, schema: string) => (await client.query(`SELECT state, status FROM ${schema}.ledger`)).rows;
const recordState = async (client: pg.Client, schema: string) => (await client.query(`SELECT state FROM ${schema}.records`)).rows[0]?.state;

describe("PostgreSQL: a completion that did not commit (the database up)", () => {
  it("is journaled before the client gets the answer: after a SIGKILL a replica on that journal replays it, and it is written back with its ledger row", async () => {
    const db = await startPostgres();
    const s = await sessions(db.url);
    try {
      const schema = "payguard";
      const journal = freshJournal();
      // No upstream key: a lost answer would make every repeat of this paid charge a 502.
      const extra = "idempotency: { upstreamKey: false, lease: 1s }";
      const a = await replica(db.url, schema, extra, journal);
      const key = `pg-locked-${randomUUID()}`;
      const answer = await payWithFailedCompletion(a.url, key, s, schema);
      expect(answer.status).toBe(201);
      a.proc.kill("SIGKILL");
      await a.exited.catch(() => {});

      // The answer outlived the process: a replica on the same journal replays it, the row still locked.
      const b = await replica(db.url, schema, extra, journal);
      const again = await pay(b.url, key);
      expect(again.status, again.body.toString()).toBe(201);
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(json(again)).toEqual({ id: "ch_locked" });

      // The row is free: the journal is written back — a replica with a journal of its own replays it, the ledger has its row.
      await s.locker.query("ROLLBACK");
      await until(async () => /payguard_journal_backlog 0/.test((await send(b.adminUrl, "/metrics")).body.toString()), "the journal is written back", 15_000);
      const c = await replica(db.url, schema, extra);
      const third = await pay(c.url, key);
      expect(third.headers["idempotent-replayed"]).toBe("true");
      expect(json(third)).toEqual({ id: "ch_locked" });
      expect(seenWith(key)).toHaveLength(1);
      expect(await ledgerOf(s.locker, schema)).toEqual([{ state: "completed", status: 201 }]);
    } finally {
      await s.end().catch(() => {});
      await db.stop("immediate");
    }
  });

  it("is written back by its owner's token once the row is free, not a lease later: the other replicas replay it", async () => {
    const db = await startPostgres();
    const s = await sessions(db.url);
    try {
      const schema = "payguard";
      // A lease far longer than the wait below: a write-back that waited it out would be too late.
      const extra = "idempotency: { upstreamKey: false, lease: 60s }";
      const [a, b] = [await replica(db.url, schema, extra), await replica(db.url, schema, extra)];
      const key = `pg-owned-${randomUUID()}`;
      const answer = await payWithFailedCompletion(a.url, key, s, schema);
      expect(answer.status).toBe(201);
      expect(await recordState(s.watcher, schema)).toBe("in-flight");

      await s.locker.query("ROLLBACK");
      await until(async () => (await recordState(s.watcher, schema)) === "completed", "the journaled answer is in PostgreSQL", 15_000);
      const again = await pay(b.url, key);
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(json(again)).toEqual({ id: "ch_locked" });
      expect(seenWith(key)).toHaveLength(1);
      expect(await ledgerOf(s.watcher, schema)).toEqual([{ state: "completed", status: 201 }]);
    } finally {
      await s.end().catch(() => {});
      await db.stop("immediate");
    }
  });
});

describe("PostgreSQL: a value it would refuse, from the gateway", () => {
  it("a NUL or a lone surrogate in the charge id the ledger keeps is stored as U+FFFD: the answer commits, other replicas replay it at once", async () => {
    const schema = freshSchema();
    // No waiting on a key in flight: a completion that did not commit shows as 409 on the other replica.
    const extra = "idempotency: { inFlight: { strategy: reject } }";
    const [a, b] = [await replica(SHARED_POSTGRES, schema, extra), await replica(SHARED_POSTGRES, schema, extra)];
    for (const id of ["ch_\u0000nul", "ch_\ud83dlone"]) {
      const key = `pg-poisoned-${randomUUID()}`;
      gw.script(steps.json(201, { id }));
      expect((await pay(a.url, key)).status).toBe(201);
      const again = await pay(b.url, key);
      expect(again.status, again.body.toString()).toBe(201);
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(seenWith(key)).toHaveLength(1);
    }
    const client = new pg.Client(SHARED_POSTGRES);
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT fields ->> '/id' AS charge FROM ${schema}.ledger ORDER BY id`);
      expect(rows.map((r) => r.charge)).toEqual(["ch_\ufffdnul", "ch_\ufffdlone"]);
    } finally {
      await client.end();
    }
  });
});

describe("PostgreSQL failover", () => {
  it("noticed by the health check alone (no request in the gap) is counted as a store error; the next payment goes to the promoted standby", async () => {
    const primary = await startPostgres();
    const standby = await startStandby(primary).catch(async (err) => {
      await primary.stop("immediate");
      throw err;
    });
    try {
      const nodes = `["${primary.url}", "${standby.url}"]`;
      const store = `store: { type: postgres, postgres: { schema: payguard, nodes: ${nodes} }, operationTimeout: 500ms, journal: { dir: "${freshJournal()}" } }`;
      const a = await startChild(writeTempConfig(testConfigYaml(gw.url, store)));
      children.push(a);
      const errors = async () => sample((await send(a.adminUrl, "/metrics")).body.toString(), "payguard_store_errors_total", { op: "ping" });
      expect((await pay(a.url, `pg-before-${randomUUID()}`)).status).toBe(200);

      // Nothing in flight while the primary dies and the standby takes over: only the health check sees it.
      await primary.stop("immediate");
      await standby.promote();
      await until(async () => (await errors()) > 0, "the failed health check is counted", 10_000);
      // The old primary is gone: a claim that commits is the promoted standby's.
      const key = `pg-after-${randomUUID()}`;
      expect((await pay(a.url, key)).status).toBe(200);
      expect(seenWith(key)).toHaveLength(1);
    } finally {
      await Promise.all([primary.stop("immediate"), standby.stop("immediate")]);
    }
  });
});
