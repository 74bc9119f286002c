import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../../src/store/memory.js";
import { describeStoreContract } from "./store.contract.js";

describeStoreContract("memory", async () => createMemoryStore({ maxEntries: 1000, maxSize: 1024 * 1024 }));

describe("memory store bounds", () => {
  it("never evicts in-flight records, and refuses new claims when full of them", async () => {
    const store = createMemoryStore({ maxEntries: 3, maxSize: 1024 * 1024 });
    for (const k of ["a", "b", "c"]) expect((await store.claim(k, { token: k, fingerprint: "f", leaseMs: 60_000, ttlMs: 60_000 })).outcome).toBe("claimed");
    await expect(store.claim("d", { token: "d", fingerprint: "f", leaseMs: 60_000, ttlMs: 60_000 })).rejects.toMatchObject({ code: "store_full" });
    for (const k of ["a", "b", "c"]) expect((await store.get(k))?.state).toBe("in-flight");
    await store.close();
  });

  it("a record too large for maxSize never frees the key: it is kept as indeterminate (regression)", async () => {
    const store = createMemoryStore({ maxEntries: 10, maxSize: 4096 });
    await store.claim("big", { token: "t", fingerprint: "f", leaseMs: 60_000, ttlMs: 60_000 });
    const record = {
      state: "completed" as const,
      fingerprint: "f",
      createdAt: 0,
      completedAt: 0,
      response: { status: 200, headers: {}, body: Buffer.alloc(8192) },
    };
    await expect(store.complete("big", "t", record, 60_000)).rejects.toMatchObject({ code: "store_full" });
    const again = await store.claim("big", { token: "t2", fingerprint: "f", leaseMs: 60_000, ttlMs: 60_000 });
    expect(again.outcome === "exists" && again.record.state).toBe("indeterminate");
    await store.close();
  });

  it("evicts the least recently used final records past maxSize and counts it", async () => {
    let evicted = 0;
    const store = createMemoryStore({ maxEntries: 100, maxSize: 4096, onEvict: () => evicted++ });
    for (let i = 0; i < 10; i++) {
      const k = `k${i}`;
      await store.claim(k, { token: k, fingerprint: "f", leaseMs: 60_000, ttlMs: 60_000 });
      await store.complete(
        k,
        k,
        { state: "completed", fingerprint: "f", createdAt: 0, completedAt: 0, response: { status: 200, headers: {}, body: Buffer.alloc(1000) } },
        60_000,
      );
    }
    expect(store.stats().bytes).toBeLessThanOrEqual(4096);
    expect(evicted).toBeGreaterThan(0);
    expect(await store.get("k9")).toBeDefined();
    expect(await store.get("k0")).toBeUndefined();
    await store.close();
  });
});
