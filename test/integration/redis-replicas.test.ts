/**
 * store.waitForReplicas: a claim or an answer counts only once a replica has it (WAIT), so a
 * failover to that replica cannot lose it. A test-owned primary and replica; the replica is
 * killed to make acknowledgement impossible.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@keyv/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Answer, json, send } from "../support/http.js";
import { type Running, startInProcess } from "../support/payguard.js";
import { startRedis, type TestRedis } from "../support/redis-server.js";
import { until } from "../support/until.js";

let gw: FakeGateway;
let primary: TestRedis;
let replica: TestRedis;
let pg: Running;
const prefix = `pgt-${randomUUID()}`;

/** How many completed records the replica holds (record keys are hashes: counted, not looked up). */
async function completedOnReplica(): Promise<number> {
  const client = createClient({ url: replica.url });
  await client.connect();
  try {
    let count = 0;
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:{*}`, COUNT: 1000 })) {
      for (const key of keys) {
        const text = await client.get(key);
        if (text && (JSON.parse(text) as { value: { state: string } }).value.state === "completed") count += 1;
      }
    }
    return count;
  } finally {
    await client.close();
  }
}

async function replicaInSync(): Promise<void> {
  await until(linkUp, "the replica is in sync", 10_000);
}
async function linkUp(): Promise<boolean> {
  const client = createClient({ url: replica.url });
  await client.connect();
  try {
    return /master_link_status:up/.test(await client.info("replication"));
  } finally {
    await client.close();
  }
}

const pay = (key: string): Promise<Answer> =>
  send(pg.url, "/v1/charges", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount: 1000 }),
  });
const seenWith = (key: string) => gw.requests.filter((r) => r.headers["idempotency-key"] === key).length;

beforeAll(async () => {
  gw = await startFakeGateway();
  gw.setDefault(steps.json(201, { id: "ch_acked" }));
  primary = await startRedis();
  replica = await startRedis(["--replicaof", "127.0.0.1", String(primary.port)]);
  await replicaInSync();
  const journal = mkdtempSync(join(tmpdir(), "payguard-journal-"));
  pg = await startInProcess(
    gw.url,
    `store: { type: redis, url: "${primary.url}", prefix: "${prefix}", operationTimeout: 300ms, waitForReplicas: { replicas: 1, timeout: 200ms }, journal: { dir: "${journal}" } }`,
  );
});
afterAll(async () => {
  await pg?.close();
  await Promise.all([replica?.stop(), primary?.stop()]);
  await gw?.close();
});

describe("store.waitForReplicas", () => {
  it("with the replica up: the answer is on the replica before the client has it", async () => {
    const before = await completedOnReplica();
    const answer = await pay(`acked-${randomUUID()}`);
    expect(answer.status).toBe(201);
    expect(await completedOnReplica()).toBe(before + 1);
  });

  it("with the replica down: a new key is refused (503, nothing sent) and its claim taken back", async () => {
    await replica.stop();
    const key = `unacked-${randomUUID()}`;
    const answer = await pay(key);
    expect(answer.status).toBe(503);
    expect(json(answer).code).toBe("store_unavailable");
    expect(seenWith(key)).toBe(0);
    await replica.start();
    await replicaInSync();
    // The claim was released: once the replica is back the same key goes through.
    await until(async () => (await pay(key)).status === 201, "the key goes through with the replica back", 10_000);
    expect(seenWith(key)).toBe(1);
  });

  it("the replica lost while the gateway answers: the client gets the answer, the journal keeps it until the replica has it", async () => {
    const key = `journaled-${randomUUID()}`;
    const before = await completedOnReplica();
    gw.script(steps.delay(600, steps.json(201, { id: "ch_journaled" })));
    const answer = pay(key);
    await until(() => seenWith(key) === 1, "the gateway has the request");
    await replica.stop();
    expect((await answer).status).toBe(201);
    const backlog = async () => /payguard_journal_backlog 1\b/.test((await send(pg.adminUrl, "/metrics")).body.toString());
    expect(await backlog()).toBe(true);
    await replica.start();
    await until(async () => (await completedOnReplica()) === before + 1 && !(await backlog()), "written back once the replica acknowledges", 15_000);
    const again = await pay(key);
    expect(json(again)).toEqual({ id: "ch_journaled" });
    expect(seenWith(key)).toBe(1);
  });
});
