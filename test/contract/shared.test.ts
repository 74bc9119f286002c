/**
 * The shared store's side of operator resolutions: a journaled indeterminate record (Redis
 * was down when it settled) is resolved in Redis and dropped from the journal in one turn, so
 * the journal's write-back never puts it back over the operator's answer.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { createMetrics } from "../../src/metrics/registry.js";
import { createStore } from "../../src/store/create.js";
import { Journal } from "../../src/store/journal.js";
import { createRedisStore } from "../../src/store/redis/store.js";
import type { ReadyStore } from "../../src/store/shared/store.js";
import type { CompletedRecord, FinalRecord } from "../../src/store/types.js";
import { storeSecretAnswer } from "./store.contract.js";

const REDIS_URL = process.env.PAYGUARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const LONG = 60_000;
/** Longer than two write-back rounds (one a second). */
const WRITE_BACK_ROUNDS = 2500;

const stores: ReadyStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function completed(body: string): CompletedRecord {
  return {
    state: "completed",
    fingerprint: "fp",
    createdAt: 1,
    completedAt: 2,
    response: { status: 201, headers: { "content-type": "application/json" }, body: Buffer.from(body) },
  };
}

/**
 * A replica that went down with `record` in its journal for `key`, while Redis still holds
 * the dead owner's in-flight claim; it starts again with Redis reachable.
 */
async function restartedWithJournal(key: string, record: FinalRecord): Promise<{ store: ReadyStore; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "payguard-shared-"));
  const prefix = `pgtest-${randomUUID()}`;
  const redis = await createRedisStore({ url: REDIS_URL, prefix, operationTimeout: 1000 });
  await redis.claim(key, { token: "dead-owner", fingerprint: "fp", leaseMs: 50, ttlMs: LONG });
  await redis.close();
  await sleep(80); // the dead owner's lease has run out (a live one is never replaced)
  const journal = await Journal.open({ dir, fsync: false });
  await journal.append({ key, record, ttlMs: LONG, writtenAt: Date.now() });
  await journal.close();
  const config = parseConfig(
    `upstream: { url: "http://gw" }\nstore: { type: redis, url: "${REDIS_URL}", prefix: "${prefix}", operationTimeout: 1s, journal: { dir: "${dir}", fsync: false } }`,
    {},
  ).store;
  const store = await createStore(config, { metrics: createMetrics({ defaultMetrics: false }), logger: createLogger("silent") });
  stores.push(store);
  return { store, dir };
}

const indeterminate: FinalRecord = { state: "indeterminate", fingerprint: "fp", createdAt: 1, completedAt: 2, reason: "reset (UND_ERR_SOCKET)", attempts: 1 };

describe("shared store: resolving a journaled indeterminate record", () => {
  it("lists and shows it with source journal", async () => {
    const key = `k-${randomUUID()}`;
    const { store } = await restartedWithJournal(key, indeterminate);
    // Called at once, before the first write-back round can run.
    const [listed, inspected] = await Promise.all([store.list({ state: "indeterminate", limit: 10 }), store.inspect(key)]);
    expect(listed.entries.find((e) => e.key === key)).toMatchObject({ source: "journal", record: { state: "indeterminate", attempts: 1 } });
    expect(inspected).toMatchObject({ source: "journal", record: { state: "indeterminate" } });
    expect(inspected?.expiresAt).toBeGreaterThan(Date.now() + LONG - 5000);
  });

  it("release: the later write-back does not bring the indeterminate record back (regression)", async () => {
    const key = `k-${randomUUID()}`;
    const { store, dir } = await restartedWithJournal(key, indeterminate);
    expect(await store.resolve(key, undefined)).toBe("resolved");
    await sleep(WRITE_BACK_ROUNDS);
    expect(await store.get(key)).toBeUndefined();
    const journal = await Journal.open({ dir, fsync: false });
    expect(journal.get(key)).toBeUndefined();
    await journal.close();
    expect((await store.claim(key, { token: "retry", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG })).outcome).toBe("claimed");
  });

  it("complete: the operator's answer is in Redis for the journaled record's remaining TTL, and stays", async () => {
    const key = `k-${randomUUID()}`;
    const { store } = await restartedWithJournal(key, indeterminate);
    expect(await store.resolve(key, completed('{"id":"ch_operator"}'))).toBe("resolved");
    await sleep(WRITE_BACK_ROUNDS);
    const entry = await store.inspect(key);
    expect(entry?.source).toBe("redis");
    expect(entry?.record.state === "completed" && entry.record.response.body.toString()).toBe('{"id":"ch_operator"}');
    expect(entry?.expiresAt).toBeLessThanOrEqual(Date.now() + LONG);
    expect(entry?.expiresAt).toBeGreaterThan(Date.now() + LONG - 10_000);
  });

  it("a journaled answer is final: resolving it is refused and changes nothing", async () => {
    const key = `k-${randomUUID()}`;
    const { store } = await restartedWithJournal(key, completed('{"id":"ch_gateway"}'));
    expect(await store.resolve(key, undefined)).toBe("not_indeterminate");
    expect(await store.resolve(key, completed('{"id":"ch_operator"}'))).toBe("not_indeterminate");
    await sleep(WRITE_BACK_ROUNDS);
    const got = await store.get(key);
    expect(got?.state === "completed" && got.response.body.toString()).toBe('{"id":"ch_gateway"}');
  });
});

describe("shared store: this replica's in-flight count", () => {
  it.each(["redis", "postgres"])("%s: a won claim counts until it is completed or released, done or not", async (type) => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-shared-"));
    const where =
      type === "redis"
        ? `type: redis, url: "${REDIS_URL}", prefix: "pgtest-${randomUUID()}"`
        : `type: postgres, url: "postgres://postgres@127.0.0.1:5432/test", postgres: { schema: "pgtest_${randomUUID().replaceAll("-", "")}" }`;
    const config = parseConfig(`upstream: { url: "http://gw" }\nstore: { ${where}, operationTimeout: 1s, journal: { dir: "${dir}", fsync: false } }`, {}).store;
    const store = await createStore(config, { metrics: createMetrics({ defaultMetrics: false }), logger: createLogger("silent") });
    stores.push(store);
    const claim = (key: string, token: string) => store.claim(key, { token, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await claim(a, "ta");
    await claim(b, "tb");
    await claim(c, "tc");
    expect((await claim(a, "again")).outcome).toBe("exists");
    expect(store.stats().inFlight).toBe(3);
    expect(await store.complete(a, "ta", completed("{}"), LONG)).toBe(true);
    expect(await store.release(b, "tb")).toBe(true);
    expect(store.stats().inFlight).toBe(1);
    // Not the owner: nothing stored, and still settled as far as this call goes.
    expect(await store.complete(c, "not-the-owner", completed("{}"), LONG)).toBe(false);
    expect(store.stats().inFlight).toBe(0);
  });
});

describe("shared store: encryption at rest, as the config sets it up", () => {
  it("store.encryption.key seals what Redis holds: no plaintext body, and the answer reads back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-shared-"));
    const prefix = `pgtest-${randomUUID()}`;
    const key = Buffer.alloc(32, 9).toString("base64");
    const config = parseConfig(
      `upstream: { url: "http://gw" }\nstore: { type: redis, url: "${REDIS_URL}", prefix: "${prefix}", encryption: { key: "${key}" }, journal: { dir: "${dir}", fsync: false } }`,
      {},
    ).store;
    const store = await createStore(config, { metrics: createMetrics({ defaultMetrics: false }), logger: createLogger("silent") });
    stores.push(store);
    const body = await storeSecretAnswer(store, "k");
    const raw = await createRedisStore({ url: REDIS_URL, prefix, operationTimeout: 1000 });
    try {
      const held = await raw.get("k");
      expect(held?.state === "completed" && held.response.body.includes("ch_secret_body")).toBe(false);
    } finally {
      await raw.close();
    }
    const got = await store.get("k");
    expect(got?.state === "completed" && got.response.body.equals(body)).toBe(true);
  });
});
