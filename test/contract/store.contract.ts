/**
 * The idempotency store contract, run unchanged against every store implementation.
 * Real time with short leases and TTLs: stores are I/O (Redis), so no fake timers.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CompletedRecord, IdempotencyStore, IndeterminateRecord } from "../../src/store/types.js";

const LONG = 60_000;

function completed(fingerprint: string, body = '{"id":"ch_1"}'): CompletedRecord {
  return {
    state: "completed",
    fingerprint,
    createdAt: Date.now(),
    completedAt: Date.now(),
    response: {
      status: 201,
      headers: { "content-type": "application/json", location: "/v1/charges/ch_1", "set-cookie": ["a=1", "b=2"] },
      body: Buffer.from(body),
    },
  };
}

export function describeStoreContract(name: string, makeStore: () => Promise<IdempotencyStore>): void {
  describe(`store contract: ${name}`, () => {
    let store: IdempotencyStore;
    let key: string;
    beforeEach(async () => {
      store = await makeStore();
      key = `contract-${randomUUID()}`;
    });
    afterEach(async () => {
      await store.close();
    });

    it("claim is exclusive: of many concurrent claims exactly one wins", async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.claim(key, { token: `t${i}`, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG })),
      );
      expect(results.filter((r) => r.outcome === "claimed")).toHaveLength(1);
      const others = results.filter((r) => r.outcome === "exists");
      expect(others).toHaveLength(49);
      const winner = results.findIndex((r) => r.outcome === "claimed");
      for (const other of others) {
        expect(other.outcome === "exists" && other.record.state === "in-flight" && other.record.token).toBe(`t${winner}`);
      }
    });

    it("only the owner completes; the completed record is returned byte for byte", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(await store.complete(key, "intruder", completed("fp"), LONG)).toBe(false);
      expect((await store.get(key))?.state).toBe("in-flight");
      const record = completed("fp");
      expect(await store.complete(key, "owner", record, LONG)).toBe(true);
      const got = await store.get(key);
      expect(got?.state).toBe("completed");
      if (got?.state !== "completed") throw new Error("unreachable");
      expect(got.response.status).toBe(201);
      expect(got.response.headers).toEqual(record.response.headers);
      expect(got.response.body.equals(record.response.body)).toBe(true);
      expect(got.fingerprint).toBe("fp");
      // A completed key cannot be claimed again, nor completed twice.
      const again = await store.claim(key, { token: "late", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(again.outcome).toBe("exists");
      expect(await store.complete(key, "owner", completed("fp", "other"), LONG)).toBe(false);
    });

    it("only the owner releases; a released key can be claimed afresh", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(await store.release(key, "intruder")).toBe(false);
      expect((await store.claim(key, { token: "second", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG })).outcome).toBe("exists");
      expect(await store.release(key, "owner")).toBe(true);
      expect(await store.get(key)).toBeUndefined();
      expect((await store.claim(key, { token: "second", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG })).outcome).toBe("claimed");
    });

    it("only the owner renews; renewal keeps the lease alive", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: 150, ttlMs: LONG });
      expect(await store.renew(key, "intruder", 150)).toBe(false);
      for (let i = 0; i < 4; i++) {
        await sleep(60);
        expect(await store.renew(key, "owner", 150)).toBe(true);
      }
      // 240 ms after the claim, past the first lease: still owned.
      expect((await store.claim(key, { token: "other", fingerprint: "fp", leaseMs: 150, ttlMs: LONG })).outcome).toBe("exists");
    });

    it("an expired lease is taken over, and the old owner can no longer complete", async () => {
      await store.claim(key, { token: "crashed", fingerprint: "fp", leaseMs: 80, ttlMs: LONG });
      expect((await store.claim(key, { token: "early", fingerprint: "fp", leaseMs: 80, ttlMs: LONG })).outcome).toBe("exists");
      await sleep(150);
      const takeover = await store.claim(key, { token: "heir", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(takeover.outcome).toBe("taken-over");
      expect(takeover.outcome === "taken-over" && takeover.previous.token).toBe("crashed");
      expect(await store.complete(key, "crashed", completed("fp"), LONG)).toBe(false);
      expect(await store.renew(key, "crashed", LONG)).toBe(false);
      expect(await store.complete(key, "heir", completed("fp"), LONG)).toBe(true);
    });

    it("a final record expires after its TTL", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      await store.complete(key, "owner", completed("fp"), 120);
      expect((await store.get(key))?.state).toBe("completed");
      await sleep(200);
      expect(await store.get(key)).toBeUndefined();
      expect((await store.claim(key, { token: "new", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG })).outcome).toBe("claimed");
    });

    it("keeps indeterminate records so repeats can be refused", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      const record: IndeterminateRecord = { state: "indeterminate", fingerprint: "fp", createdAt: Date.now(), completedAt: Date.now(), reason: "timeout" };
      expect(await store.complete(key, "owner", record, LONG)).toBe(true);
      const claim = await store.claim(key, { token: "retry", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(claim.outcome === "exists" && claim.record).toMatchObject({ state: "indeterminate", reason: "timeout" });
    });

    it("waitForChange wakes on complete and on release, and times out otherwise", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      let started = Date.now();
      const woken = store.waitForChange(key, 5000);
      setTimeout(() => void store.complete(key, "owner", completed("fp"), LONG), 50);
      await woken;
      expect(Date.now() - started).toBeLessThan(2000);

      const other = `${key}-2`;
      await store.claim(other, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      started = Date.now();
      const released = store.waitForChange(other, 5000);
      setTimeout(() => void store.release(other, "owner"), 50);
      await released;
      expect(Date.now() - started).toBeLessThan(2000);

      started = Date.now();
      await store.waitForChange(`${key}-3`, 100);
      expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    });
  });
}
