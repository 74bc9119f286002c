import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cipherFor } from "../../src/store/crypto.js";
import { createRedisStore } from "../../src/store/redis/store.js";
import { sealedStore } from "../../src/store/sealing.js";
import { startRedisSentinel, useRedisCluster } from "../support/redis-server.js";
import { describeStoreContract, storeSecretAnswer } from "./store.contract.js";

// The machine's Redis (CI starts one if none answers); a fresh prefix isolates each run.
const REDIS_URL = process.env.PAYGUARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * The poll fallback far beyond the contract's wake-up bounds: a waiter woken in time was woken
 * by the pub/sub message, not by polling.
 */
const NO_POLL = { pollFallbackMs: 30_000 };

describeStoreContract("redis", () => createRedisStore({ url: REDIS_URL, prefix: `pgtest-${randomUUID()}`, operationTimeout: 1000, ...NO_POLL }));

describe("redis store specifics", () => {
  it("with encryption on, Redis holds no plaintext body or header", async () => {
    const key = Buffer.alloc(32, 7).toString("base64");
    const prefix = `pgtest-${randomUUID()}`;
    const store = sealedStore(await createRedisStore({ url: REDIS_URL, prefix, operationTimeout: 1000 }), cipherFor(key));
    try {
      const body = await storeSecretAnswer(store, "k");
      // What an operator (or an attacker with Redis access) sees: redis-cli GET.
      const url = new URL(REDIS_URL);
      const raw = spawnSync("redis-cli", ["-h", url.hostname, "-p", url.port || "6379", "GET", `${prefix}:{k}`], { encoding: "utf8" }).stdout;
      expect(raw.length).toBeGreaterThan(0);
      expect(raw).not.toContain("ch_secret_body");
      expect(raw).not.toContain(body.toString("base64"));
      const got = await store.get("k");
      expect(got?.state === "completed" && got.response.body.equals(body)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("a sealed answer copied under another key does not open there", async () => {
    const key = Buffer.alloc(32, 5).toString("base64");
    const prefix = `pgtest-${randomUUID()}`;
    const store = sealedStore(await createRedisStore({ url: REDIS_URL, prefix, operationTimeout: 1000 }), cipherFor(key));
    try {
      await store.claim("victim", { token: "t", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
      const response = { status: 200, headers: {}, body: Buffer.from("tenant A's answer") };
      await store.complete("victim", "t", { state: "completed", fingerprint: "fp", createdAt: 1, completedAt: 2, response }, 60_000);
      const url = new URL(REDIS_URL);
      const cli = (...args: string[]) => spawnSync("redis-cli", ["-h", url.hostname, "-p", url.port || "6379", ...args], { encoding: "utf8" }).stdout.trimEnd();
      cli("SET", `${prefix}:{attacker}`, cli("GET", `${prefix}:{victim}`));
      await expect(store.get("attacker")).rejects.toThrow(/authentication failed/);
      expect((await store.get("victim"))?.state).toBe("completed");
    } finally {
      await store.close();
    }
  });

  it("write-back: a completed answer replaces an indeterminate marker, never a completed record", async () => {
    const store = await createRedisStore({ url: REDIS_URL, prefix: `pgtest-${randomUUID()}`, operationTimeout: 1000 });
    try {
      const completed = (body: string) => ({
        state: "completed" as const,
        fingerprint: "fp",
        createdAt: 1,
        completedAt: 2,
        response: { status: 201, headers: {}, body: Buffer.from(body) },
      });
      await store.claim("k", { token: "t", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
      await store.complete("k", "t", { state: "indeterminate", fingerprint: "fp", createdAt: 1, completedAt: 2, reason: "owner lost" }, 60_000);
      expect(await store.putFinal("k", { state: "indeterminate", fingerprint: "fp", createdAt: 1, completedAt: 3, reason: "again" }, 60_000)).toBe(
        "superseded",
      );
      expect(await store.putFinal("k", completed("journaled"), 60_000)).toBe("written");
      expect(await store.putFinal("k", completed("other"), 60_000)).toBe("superseded");
      const got = await store.get("k");
      expect(got?.state === "completed" && got.response.body.toString()).toBe("journaled");
    } finally {
      await store.close();
    }
  });

  it("write-back and an operator's resolution never replace an in-flight claim whose lease is live (review finding)", async () => {
    const store = await createRedisStore({ url: REDIS_URL, prefix: `pgtest-${randomUUID()}`, operationTimeout: 1000 });
    try {
      const answer = {
        state: "completed" as const,
        fingerprint: "fp",
        createdAt: 1,
        completedAt: 2,
        response: { status: 201, headers: {}, body: Buffer.from("journaled") },
      };
      await store.claim("live", { token: "b", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
      expect(await store.putFinal("live", answer, 60_000)).toBe("busy");
      expect(await store.resolveJournaled("live", answer, 60_000)).toBe("not_indeterminate");
      expect(await store.resolveJournaled("live", undefined, 60_000)).toBe("not_indeterminate");
      expect((await store.get("live"))?.state).toBe("in-flight");
      // Once the lease has run out (its owner is gone), the journaled answer goes in.
      await store.claim("stale", { token: "a", fingerprint: "fp", leaseMs: 100, ttlMs: 60_000 });
      await sleep(150);
      expect(await store.putFinal("stale", answer, 60_000)).toBe("written");
      expect((await store.get("stale"))?.state).toBe("completed");
    } finally {
      await store.close();
    }
  });

  it("fails every operation with store_unavailable, promptly, while Redis cannot be reached", async () => {
    const store = await createRedisStore({ url: "redis://127.0.0.1:9", prefix: "x", operationTimeout: 300 });
    try {
      const started = performance.now();
      await expect(store.claim("k", { token: "t", fingerprint: "f", leaseMs: 1000, ttlMs: 1000 })).rejects.toMatchObject({ code: "store_unavailable" });
      await expect(store.get("k")).rejects.toMatchObject({ code: "store_unavailable" });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(store.healthy()).toBe(false);
      expect(await store.ping()).toBe(false);
    } finally {
      await store.close();
    }
  });
});

describe("redis cluster", () => {
  const clusterUrls = useRedisCluster();
  describeStoreContract("redis cluster (3 masters)", () =>
    createRedisStore({ clusterNodes: clusterUrls(), prefix: `pgtest-${randomUUID()}`, operationTimeout: 2000, ...NO_POLL }),
  );
});

describe("redis sentinel", () => {
  let setup: Awaited<ReturnType<typeof startRedisSentinel>> | undefined;
  beforeAll(async () => {
    setup = await startRedisSentinel();
  }, 30_000);
  afterAll(async () => {
    await setup?.stop();
  });
  describeStoreContract("redis via sentinel", () =>
    createRedisStore({
      sentinel: { name: "mymaster", nodes: [setup?.sentinelUrl ?? ""] },
      prefix: `pgtest-${randomUUID()}`,
      operationTimeout: 2000,
      ...NO_POLL,
    }),
  );
});
