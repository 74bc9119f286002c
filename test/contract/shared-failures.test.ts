/**
 * The shared store while its Redis fails, at the store's own interface: a test-owned
 * redis-server is stopped between a claim and its answer. Each test is a regression test for
 * a review finding, run red against the code before its fix.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { createMetrics } from "../../src/metrics/registry.js";
import { createSharedStore, type ReadyStore } from "../../src/store/shared.js";
import type { ClaimRequest, CompletedRecord } from "../../src/store/types.js";
import { startRedis, type TestRedis } from "../support/redis-server.js";

const LONG = 60_000;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `extra` continues the store section; JOURNAL in it stands for a fresh journal directory. */
async function sharedStore(redis: TestRedis, extra = ""): Promise<ReadyStore> {
  const dir = mkdtempSync(join(tmpdir(), "payguard-shared-"));
  const journal = extra.includes("journal:") ? "" : `, journal: { dir: "${dir}", fsync: true }`;
  const config = parseConfig(
    `upstream: { url: "http://gw" }\nstore: { type: redis, url: "${redis.url}", prefix: "pgt-${randomUUID()}", operationTimeout: 300ms${journal}${extra.replace("JOURNAL", `"${dir}"`)} }`,
    {},
  ).store;
  const store = await createSharedStore(config, { metrics: createMetrics({ defaultMetrics: false }), logger: createLogger("silent") });
  cleanups.push(() => store.close());
  return store;
}

async function testRedis(): Promise<TestRedis> {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  return redis;
}

const claimOf = (token: string): ClaimRequest => ({ token, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
const charged: CompletedRecord = {
  state: "completed",
  fingerprint: "fp",
  createdAt: 1,
  completedAt: 2,
  response: { status: 201, headers: { "content-type": "application/json" }, body: Buffer.from('{"id":"ch_1"}') },
};

describe("shared store: Redis lost between a claim and its answer", () => {
  it.each(["reject", "local"])(
    "onUnavailable %s: a duplicate arriving while the answer is being made durable is never claimed (regression: a double charge)",
    async (onUnavailable) => {
      const redis = await testRedis();
      const store = await sharedStore(redis, `, onUnavailable: ${onUnavailable}`);
      const key = `k-${randomUUID()}`;
      expect((await store.claim(key, claimOf("first"))).outcome).toBe("claimed");
      await redis.stop();
      // The gateway has answered: Redis refuses it, so it goes to the journal (fsync'd).
      const completing = store.complete(key, "first", charged, LONG);
      const duplicate = await store.claim(key, claimOf("duplicate")).catch((err: unknown) => err);
      expect(duplicate).toMatchObject({ outcome: "exists" });
      expect(await completing).toBe(true);
      expect(await store.claim(key, claimOf("later"))).toMatchObject({ outcome: "exists", record: { state: "completed" } });
    },
  );
});

describe("shared store: the journal is bounded (store.journal.maxEntries, maxBytes)", () => {
  it("at the cap, new keys are refused (503 store_full, nothing sent); answers already obtained are still journaled", async () => {
    const redis = await testRedis();
    const store = await sharedStore(redis, ", onUnavailable: local, journal: { dir: JOURNAL, maxEntries: 2 }");
    await redis.stop();
    const keys = [1, 2, 3].map((i) => `k${i}-${randomUUID()}`);
    for (const key of keys) expect((await store.claim(key, claimOf(key))).outcome).toBe("claimed");
    // Two answers fill the journal.
    expect(await store.complete(keys[0] as string, keys[0] as string, charged, LONG)).toBe(true);
    expect(await store.complete(keys[1] as string, keys[1] as string, charged, LONG)).toBe(true);
    await expect(store.claim(`new-${randomUUID()}`, claimOf("new"))).rejects.toMatchObject({ code: "store_full" });
    // The third key was claimed before the cap: its answer exists at the gateway and is never dropped.
    expect(await store.complete(keys[2] as string, keys[2] as string, charged, LONG)).toBe(true);
    expect(await store.claim(keys[2] as string, claimOf("repeat"))).toMatchObject({ outcome: "exists", record: { state: "completed" } });
  });
});
