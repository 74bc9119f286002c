/**
 * The shared Redis store across real replicas: payguard child processes (the CLI, as in
 * production) sharing one Redis — the machine's, a test-owned one that is killed and
 * restarted, or a test-owned 3-master cluster.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Answer, json, send } from "../support/http.js";
import { type Child, startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";
import { startRedis, useRedisCluster } from "../support/redis-server.js";

const SHARED_REDIS = process.env.PAYGUARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

let gw: FakeGateway;
const children: Child[] = [];
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterEach(async () => {
  for (const child of children.splice(0)) child.proc.kill("SIGKILL");
  gw.clearScript();
  gw.setDefault(steps.json(200, { ok: true }));
});
afterAll(async () => {
  await gw.close();
});

/**
 * A replica: store section plus extra YAML; its own journal directory. Store operations time
 * out at 300 ms unless `operationTimeout` says otherwise.
 */
async function replica(store: string, extra = "", operationTimeout = "300ms"): Promise<Child> {
  const journal = mkdtempSync(join(tmpdir(), "payguard-journal-"));
  const yaml = testConfigYaml(
    gw.url,
    `store: { type: redis, ${store}, operationTimeout: ${operationTimeout}, journal: { dir: "${journal}", fsync: true } }\n${extra}`,
  );
  const child = await startChild(writeTempConfig(yaml));
  children.push(child);
  return child;
}

function pay(base: string, key: string, amount = 1000): Promise<Answer> {
  return send(base, "/v1/charges", {
    method: "POST",
    headers: { authorization: "Bearer sk_test_shared", "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount, currency: "eur" }),
  });
}

const seenWith = (key: string) => gw.requests.filter((r) => r.headers["idempotency-key"] === key);

/** 200 duplicates at once; a slow store is not the point here, so a loaded machine's slow operation is no 503. */
async function exactlyOnceAcross(store: string) {
  const [a, b] = [await replica(store, "", "5s"), await replica(store, "", "5s")];
  const key = `shared-${randomUUID()}`;
  gw.script(steps.delay(300, steps.json(201, { id: "ch_shared", amount: 1000 }, { location: "/v1/charges/ch_shared" })));
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => pay(i % 2 === 0 ? (a as Child).url : (b as Child).url, key)));
  expect(seenWith(key)).toHaveLength(1);
  for (const answer of answers) {
    expect(answer.status).toBe(201);
    expect(json(answer)).toEqual({ id: "ch_shared", amount: 1000 });
    expect(answer.headers.location).toBe("/v1/charges/ch_shared");
  }
}

describe("shared Redis store across replicas", () => {
  it("200 concurrent requests with one key, split over two replicas: the gateway sees one, every client the same answer", async () => {
    await exactlyOnceAcross(`url: "${SHARED_REDIS}", prefix: "pgt-${randomUUID()}"`);
  });

  it("kill -9 of the replica holding the claim: the retry on the other never reaches the gateway without the same upstream key", async () => {
    const prefix = `prefix: "pgt-${randomUUID()}"`;
    const fast = "idempotency: { lease: 400ms }";
    const [a, b] = [await replica(`url: "${SHARED_REDIS}", ${prefix}`, fast), await replica(`url: "${SHARED_REDIS}", ${prefix}`, fast)];
    const key = `crash-${randomUUID()}`;
    gw.script(steps.delay(1500, steps.json(201, { id: "ch_crash" })));
    const lost = pay(a.url, key).catch((err: unknown) => err);
    while (seenWith(key).length === 0) await sleep(10);
    a.proc.kill("SIGKILL");
    expect(await lost).toBeInstanceOf(Error);
    await sleep(500); // the dead replica's lease runs out
    const retry = await pay(b.url, key);
    expect(retry.status).toBe(200);
    const seen = seenWith(key);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.headers["idempotency-key"]).toBe(seen[0]?.headers["idempotency-key"]);
  });

  it("kill -9 without an upstream key: the other replica answers outcome_indeterminate and sends nothing", async () => {
    const prefix = `prefix: "pgt-${randomUUID()}"`;
    const extra = "idempotency: { lease: 400ms, upstreamKey: false }";
    const [a, b] = [await replica(`url: "${SHARED_REDIS}", ${prefix}`, extra), await replica(`url: "${SHARED_REDIS}", ${prefix}`, extra)];
    const key = `crash-nokey-${randomUUID()}`;
    gw.script(steps.delay(1500, steps.json(201, { id: "ch_crash" })));
    const before = gw.requests.length;
    const lost = pay(a.url, key).catch((err: unknown) => err);
    while (gw.requests.length === before) await sleep(10);
    a.proc.kill("SIGKILL");
    await lost;
    await sleep(500);
    const retry = await pay(b.url, key);
    expect(retry.status).toBe(502);
    expect(json(retry)).toMatchObject({ code: "outcome_indeterminate" });
    await sleep(1200);
    expect(gw.requests.length - before).toBe(1);
  });
});

describe("Redis down", () => {
  it("reject: new keys get store_unavailable and reach nobody; an answer given as Redis died is journaled, served, and written back", async () => {
    const redis = await startRedis();
    try {
      const store = `url: "${redis.url}", prefix: "pgt"`;
      const a = await replica(store, "resilience: { retry: { maxAttempts: 1 } }");
      expect((await pay(a.url, `before-${randomUUID()}`)).status).toBe(200);

      // The gateway answers while Redis is gone.
      const key = `during-${randomUUID()}`;
      gw.script(steps.delay(600, steps.json(201, { id: "ch_journaled" })));
      const inFlight = pay(a.url, key);
      while (seenWith(key).length === 0) await sleep(10);
      await redis.stop();
      const first = await inFlight;
      expect(first.status).toBe(201);

      // New keys are refused, nothing is sent; readiness says why.
      const before = gw.requests.length;
      const refused = await pay(a.url, `new-${randomUUID()}`);
      expect(refused.status).toBe(503);
      expect(json(refused)).toMatchObject({ code: "store_unavailable" });
      expect(refused.headers["retry-after"]).toBeDefined();
      expect(gw.requests.length).toBe(before);
      expect((await send(a.adminUrl, "/readyz")).status).toBe(503);

      // This replica answers the journaled key itself.
      const repeat = await pay(a.url, key);
      expect(repeat.status).toBe(201);
      expect(repeat.headers["idempotent-replayed"]).toBe("true");
      const metricsDown = (await send(a.adminUrl, "/metrics")).body.toString();
      expect(metricsDown).toMatch(/payguard_journal_backlog 1/);
      // Settled (into the journal): no longer counted as in flight here.
      expect(metricsDown).toMatch(/payguard_idempotency_in_flight 0/);

      // Redis comes back (empty: no persistence): the journal is written back.
      await redis.start();
      for (let i = 0; i < 50 && (await send(a.adminUrl, "/readyz")).status !== 200; i++) await sleep(100);
      for (let i = 0; i < 50 && !/payguard_journal_backlog 0/.test((await send(a.adminUrl, "/metrics")).body.toString()); i++) await sleep(100);
      const raw = spawnSync("redis-cli", ["-p", String(redis.port), "--scan", "--pattern", "pgt:*"], { encoding: "utf8" }).stdout;
      expect(raw.split("\n").filter(Boolean)).toHaveLength(1);

      // A replica that never saw it replays it from Redis: nothing lost.
      const b = await replica(store);
      const elsewhere = await pay(b.url, key);
      expect(elsewhere.status).toBe(201);
      expect(json(elsewhere)).toEqual({ id: "ch_journaled" });
      expect(seenWith(key)).toHaveLength(1);
    } finally {
      await redis.stop();
    }
  });

  it("local: while Redis is down, keys are deduplicated by this replica", async () => {
    const redis = await startRedis();
    try {
      const a = await replica(`url: "${redis.url}", prefix: "pgt", onUnavailable: local`);
      await redis.stop();
      const key = `local-${randomUUID()}`;
      const first = await pay(a.url, key);
      const second = await pay(a.url, key);
      expect(first.status).toBe(200);
      expect(second.headers["idempotent-replayed"]).toBe("true");
      expect(seenWith(key)).toHaveLength(1);
      expect((await send(a.adminUrl, "/metrics")).body.toString()).toMatch(/payguard_store_fallbacks_total [1-9]/);
    } finally {
      await redis.stop();
    }
  });
});

describe("Redis going away mid-request (regression)", () => {
  it("local: a duplicate of a request claimed in Redis before it died waits for it instead of claiming locally", async () => {
    const redis = await startRedis();
    try {
      const a = await replica(`url: "${redis.url}", prefix: "pgt", onUnavailable: local`, "resilience: { retry: { maxAttempts: 1 } }");
      const key = `held-${randomUUID()}`;
      gw.script(steps.delay(800, steps.json(201, { id: "ch_held" })));
      const first = pay(a.url, key);
      while (seenWith(key).length === 0) await sleep(10);
      await redis.stop();
      const duplicate = await pay(a.url, key);
      expect((await first).status).toBe(201);
      expect(duplicate.status).toBe(201);
      expect(json(duplicate)).toEqual({ id: "ch_held" });
      expect(seenWith(key)).toHaveLength(1);
    } finally {
      await redis.stop();
    }
  });
});

describe("Redis Cluster", () => {
  const clusterUrls = useRedisCluster();

  it("exactly one upstream call across two replicas on a 3-master cluster", async () => {
    await exactlyOnceAcross(
      `cluster: { nodes: [${clusterUrls()
        .map((u) => `"${u}"`)
        .join(", ")}] }, prefix: "pgt-${randomUUID()}"`,
    );
  });
});
