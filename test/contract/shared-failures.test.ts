/**
 * The shared store while its Redis fails, at the store's own interface: a test-owned
 * redis-server is stopped between a claim and its answer. Each test is a regression test for
 * a review finding, run red against the code before its fix.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { mergeDefined } from "../../src/config/merge.js";
import { createLogger } from "../../src/log.js";
import { createMetrics } from "../../src/metrics/registry.js";
import { createStore } from "../../src/store/create.js";
import type { ReadyStore } from "../../src/store/shared/store.js";
import type { ClaimRequest, CompletedRecord } from "../../src/store/types.js";
import { startRedis, type TestRedis } from "../support/redis-server.js";

const LONG = 60_000;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A shared store on `redis`, with a fresh journal; `store` overrides its settings key by key. */
async function sharedStore(redis: TestRedis, store: Record<string, unknown> = {}): Promise<ReadyStore> {
  const dir = mkdtempSync(join(tmpdir(), "payguard-shared-"));
  const settings = mergeDefined(
    { type: "redis", url: redis.url, prefix: `pgt-${randomUUID()}`, operationTimeout: "300ms", journal: { dir, fsync: true } },
    store,
  );
  const config = parseConfig(stringify({ upstream: { url: "http://gw" }, store: settings }), {}).store;
  const shared = await createStore(config, { metrics: createMetrics({ defaultMetrics: false }), logger: createLogger("silent") });
  cleanups.push(() => shared.close());
  return shared;
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
      const store = await sharedStore(redis, { onUnavailable });
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
    const store = await sharedStore(redis, { onUnavailable: "local", journal: { maxEntries: 2 } });
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

describe("shared store: maintenance", () => {
  it("never overlaps itself: a round that outlasts the interval is not joined by another (review finding)", async () => {
    const redis = await testRedis();
    // Operations may take 5 s: while Redis is paused, each maintenance round (a health read
    // first) waits that long, and the 1 s interval fires several times meanwhile.
    await sharedStore(redis, { operationTimeout: "5s" });
    const cli = (...args: string[]) => spawnSync("redis-cli", ["-p", String(redis.port), ...args], { encoding: "utf8" }).stdout;
    const reads = () => Number(/cmdstat_get:calls=(\d+)/.exec(cli("INFO", "commandstats"))?.[1] ?? 0);
    const before = reads();
    cli("CLIENT", "PAUSE", "3500", "ALL");
    await sleep(4500);
    // One round ran through the pause; overlapping rounds would have sent a read per tick.
    expect(reads() - before).toBeLessThanOrEqual(2);
  });
});
