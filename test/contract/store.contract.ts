/**
 * The idempotency store contract, run unchanged against every store implementation.
 * Real time with short leases and TTLs: stores are I/O (Redis), so no fake timers.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CompletedRecord,
  type IdempotencyStore,
  type IndeterminateRecord,
  isInvalidCursor,
  type RecordAbout,
  type RecordEntry,
  type RecordState,
} from "../../src/store/types.js";

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

/** Every byte value, gzip'd as a gateway that honours Accept-Encoding would send it. */
/** Stores an answer whose body and Location carry "ch_secret_body" under `key`; returns the body. */
export async function storeSecretAnswer(store: IdempotencyStore, key: string): Promise<Buffer> {
  const body = Buffer.from('{"id":"ch_secret_body","amount":4242}');
  await store.claim(key, { token: "t", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
  const response = { status: 201, headers: { location: "/v1/charges/ch_secret_body" }, body };
  await store.complete(key, "t", { state: "completed", fingerprint: "fp", createdAt: 1, completedAt: 2, response }, 60_000);
  return body;
}

export const BINARY_BODY = gzipSync(Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256)));

function binary(fingerprint: string): CompletedRecord {
  const record = completed(fingerprint);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  return {
    ...record,
    response: { status: 200, headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" }, body: Buffer.concat([all, BINARY_BODY]) },
  };
}

function indeterminate(fingerprint: string, reason = "reset (UND_ERR_SOCKET)"): IndeterminateRecord {
  return { state: "indeterminate", fingerprint, createdAt: Date.now() - 1000, completedAt: Date.now(), reason, attempts: 1 };
}

/** Every entry in `state` whose key starts with `prefix`, paging `limit` at a time. */
async function listAll(store: IdempotencyStore, state: RecordState, prefix: string, limit: number): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.list({ state, limit, cursor });
    expect(page.entries.length).toBeLessThanOrEqual(limit);
    for (const entry of page.entries) {
      expect(entry.record.state).toBe(state);
      if (entry.key.startsWith(prefix)) keys.push(entry.key);
    }
    cursor = page.cursor;
    pages++;
  } while (cursor !== undefined && pages < 1000);
  return { keys, pages };
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

    it("a record keeps what its request was (about) from its claim, through its completion and as indeterminate", async () => {
      const about: RecordAbout = { method: "POST", path: "/v1/charges", route: "charges", gateway: "stripe", key: "order-42/ü", keyForwarded: true };
      const other = `${key}-indeterminate`;
      for (const k of [key, other]) await store.claim(k, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG, about });
      const claimed = await store.claim(key, { token: "second", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(claimed.outcome === "exists" && claimed.record.about).toEqual(about);
      // A taker of an expired lease sees the previous request too.
      const lapsed = `${key}-lapsed`;
      await store.claim(lapsed, { token: "dead", fingerprint: "fp", leaseMs: 50, ttlMs: LONG, about });
      await sleep(120);
      const taken = await store.claim(lapsed, { token: "taker", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(taken.outcome === "taken-over" && taken.previous.about).toEqual(about);
      expect((await store.inspect(key))?.record.about).toEqual(about);

      const done = { ...about, gatewayRequestId: "req_42" };
      expect(await store.complete(key, "owner", { ...completed("fp"), about: done }, LONG)).toBe(true);
      expect(await store.complete(other, "owner", { ...indeterminate("fp"), about: done }, LONG)).toBe(true);
      for (const k of [key, other]) {
        expect((await store.get(k))?.about).toEqual(done);
        expect((await store.inspect(k))?.record.about).toEqual(done);
      }
    });

    it("a binary body — every byte value, then gzip — and its Content-Encoding come back byte for byte", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      const record = binary("fp");
      expect(await store.complete(key, "owner", record, LONG)).toBe(true);
      const repeat = await store.claim(key, { token: "repeat", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      for (const got of [await store.get(key), repeat.outcome === "exists" ? repeat.record : undefined]) {
        if (got?.state !== "completed") throw new Error(`expected the completed record, got ${got?.state}`);
        expect(got.response.headers["content-encoding"]).toBe("gzip");
        expect(got.response.body.length).toBe(record.response.body.length);
        expect(got.response.body.equals(record.response.body)).toBe(true);
      }
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
      // A lease of 1 s renewed every 300 ms: a late timer on a busy machine still renews in time.
      const claimed = Date.now();
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: 1000, ttlMs: LONG });
      expect(await store.renew(key, "intruder", 1000)).toBe(false);
      while (Date.now() - claimed < 1300) {
        await sleep(300);
        expect(await store.renew(key, "owner", 1000)).toBe(true);
      }
      // Past the first lease: still owned.
      expect((await store.claim(key, { token: "other", fingerprint: "fp", leaseMs: 1000, ttlMs: LONG })).outcome).toBe("exists");
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

    it("a renewed in-flight record outlives its ttl; once its owner stops renewing it is taken over, then forgotten", async () => {
      // ttl 800 ms, lease 300 ms renewed every 100 ms for 1 s: past the ttl, only the renewals keep it.
      const claim = (k: string, token: string) => store.claim(k, { token, fingerprint: "fp", leaseMs: 300, ttlMs: 800 });
      const abandoned = `${key}-abandoned`;
      const claimed = Date.now();
      await claim(key, "owner");
      await claim(abandoned, "owner");
      while (Date.now() - claimed < 1000) {
        await sleep(100);
        expect(await store.renew(key, "owner", 300)).toBe(true);
        expect(await store.renew(abandoned, "owner", 300)).toBe(true);
      }
      const lastRenewal = Date.now();
      const repeat = await claim(key, "repeat");
      expect(repeat.outcome === "exists" && repeat.record).toMatchObject({ state: "in-flight", token: "owner" });
      const entry = (await store.inspect(key)) as RecordEntry;
      expect(entry.record.state === "in-flight" && entry.expiresAt !== undefined && entry.expiresAt > entry.record.leaseUntil).toBe(true);
      // The owner stops renewing. Its lease ends within 300 ms; the record stays for the margin
      // the claim gave past the lease (ttl − lease = 500 ms): a repeat learns the owner is gone.
      await sleep(lastRenewal + 500 - Date.now());
      const takeover = await claim(key, "heir");
      expect(takeover.outcome === "taken-over" && takeover.previous.token).toBe("owner");
      // A record whose owner died is still forgotten: at the latest 800 ms after its last renewal.
      await sleep(lastRenewal + 1300 - Date.now());
      expect(await store.get(abandoned)).toBeUndefined();
      expect((await claim(abandoned, "new")).outcome).toBe("claimed");
    });

    it("an in-flight record lives at least as long as its lease, even with a shorter ttl", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: 1000, ttlMs: 200 });
      await sleep(400);
      expect(await store.get(key)).toMatchObject({ state: "in-flight", token: "owner" });
      const repeat = await store.claim(key, { token: "repeat", fingerprint: "fp", leaseMs: 1000, ttlMs: 200 });
      expect(repeat.outcome === "exists" && repeat.record).toMatchObject({ state: "in-flight", token: "owner" });
      expect(await store.complete(key, "owner", completed("fp"), LONG)).toBe(true);
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

    it("keeps the attempts count of final records", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(await store.complete(key, "owner", { ...completed("fp"), attempts: 3 }, LONG)).toBe(true);
      expect(await store.get(key)).toMatchObject({ state: "completed", attempts: 3 });
      const other = `${key}-i`;
      await store.claim(other, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      await store.complete(other, "owner", indeterminate("fp"), LONG);
      expect(await store.get(other)).toMatchObject({ state: "indeterminate", attempts: 1 });
    });

    it("inspect shows a record with its expiry and source, never for a missing key", async () => {
      expect(await store.inspect(key)).toBeUndefined();
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      const inFlight = (await store.inspect(key)) as RecordEntry;
      expect(inFlight).toMatchObject({ key, record: { state: "in-flight", token: "owner" } });
      expect(["memory", "sqlite", "redis", "postgres"]).toContain(inFlight.source);
      await store.complete(key, "owner", indeterminate("fp"), LONG);
      const final = (await store.inspect(key)) as RecordEntry;
      expect(final.record.state).toBe("indeterminate");
      expect(final.expiresAt).toBeGreaterThan(Date.now() + LONG - 5000);
      expect(final.expiresAt).toBeLessThanOrEqual(Date.now() + LONG + 1000);
    });

    it("lists records by state, page by page, each exactly once", async () => {
      const prefix = `${key}-list-`;
      const make = async (i: number, state: RecordState) => {
        const k = `${prefix}${String(i).padStart(2, "0")}`;
        await store.claim(k, { token: `t${i}`, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
        if (state === "completed") await store.complete(k, `t${i}`, completed("fp"), LONG);
        if (state === "indeterminate") await store.complete(k, `t${i}`, indeterminate("fp"), LONG);
        return k;
      };
      const want: Record<RecordState, string[]> = { "in-flight": [], completed: [], indeterminate: [] };
      for (let i = 0; i < 25; i++) {
        const state: RecordState = i % 5 === 0 ? "in-flight" : i % 5 === 1 ? "completed" : "indeterminate";
        want[state].push(await make(i, state));
      }
      for (const state of ["in-flight", "completed", "indeterminate"] as const) {
        const { keys, pages } = await listAll(store, state, prefix, 4);
        expect(keys.sort()).toEqual(want[state].sort());
        if (want[state].length > 4) expect(pages).toBeGreaterThan(1);
      }
      let listed: RecordEntry | undefined;
      for (let cursor: string | undefined, pages = 0; !listed && pages < 1000; pages++) {
        const page = await store.list({ state: "indeterminate", limit: 1000, cursor });
        listed = page.entries.find((e) => e.key === want.indeterminate[0]);
        cursor = page.cursor;
        if (cursor === undefined) break;
      }
      expect(listed?.record).toMatchObject({ state: "indeterminate", reason: "reset (UND_ERR_SOCKET)", attempts: 1 });
      expect(listed?.expiresAt).toBeGreaterThan(Date.now());
    });

    it("refuses a cursor it did not make", async () => {
      for (const cursor of ["garbage!", Buffer.from('{"x":1}').toString("base64url"), Buffer.from("[]").toString("base64url")]) {
        const error = await store.list({ state: "indeterminate", limit: 10, cursor }).catch((err: unknown) => err);
        expect(isInvalidCursor(error)).toBe(true);
      }
    });

    it("resolve completes an indeterminate record: repeats find the operator's answer, for the remaining TTL", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      await store.complete(key, "owner", indeterminate("fp"), 400);
      const answer = completed("fp", '{"id":"ch_operator"}');
      expect(await store.resolve(key, { ...answer, fingerprint: "other" })).toBe("not_indeterminate");
      expect(await store.resolve(key, answer)).toBe("resolved");
      const claim = await store.claim(key, { token: "retry", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(claim.outcome).toBe("exists");
      if (claim.outcome !== "exists" || claim.record.state !== "completed") throw new Error(`expected a completed record, got ${JSON.stringify(claim)}`);
      expect(claim.record.response.body.toString()).toBe('{"id":"ch_operator"}');
      expect(claim.record.response.headers).toEqual(answer.response.headers);
      // Resolved once: it is not indeterminate any more.
      expect(await store.resolve(key, answer)).toBe("not_indeterminate");
      expect(await store.resolve(key, undefined)).toBe("not_indeterminate");
      // The indeterminate record's TTL (400 ms) carried over.
      await sleep(500);
      expect(await store.get(key)).toBeUndefined();
    });

    it("resolve releases an indeterminate record: the key may be claimed afresh", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      await store.complete(key, "owner", indeterminate("fp"), LONG);
      expect(await store.resolve(key, undefined)).toBe("resolved");
      expect(await store.get(key)).toBeUndefined();
      expect((await store.claim(key, { token: "retry", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG })).outcome).toBe("claimed");
    });

    it("resolve leaves in-flight and completed records alone, and reports a missing one", async () => {
      expect(await store.resolve(key, completed("fp"))).toBe("not_found");
      expect(await store.resolve(key, undefined)).toBe("not_found");
      expect(await store.get(key)).toBeUndefined();
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      expect(await store.resolve(key, completed("fp"))).toBe("not_indeterminate");
      expect(await store.resolve(key, undefined)).toBe("not_indeterminate");
      expect((await store.get(key))?.state).toBe("in-flight");
      expect(await store.complete(key, "owner", completed("fp", "gateway"), LONG)).toBe(true);
      expect(await store.resolve(key, completed("fp", "operator"))).toBe("not_indeterminate");
      expect(await store.resolve(key, undefined)).toBe("not_indeterminate");
      const got = await store.get(key);
      expect(got?.state === "completed" && got.response.body.toString()).toBe("gateway");
    });

    it("resolve wakes waiters", async () => {
      await store.claim(key, { token: "owner", fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
      await store.complete(key, "owner", indeterminate("fp"), LONG);
      await sleep(200); // the completion's own change message passes first
      const started = Date.now();
      let resolving: Promise<unknown> | undefined;
      const woken = store.waitForChange(key, 5000);
      setTimeout(() => {
        resolving = store.resolve(key, undefined);
      }, 50);
      await woken;
      expect(Date.now() - started).toBeLessThan(900);
      // Woken by the resolution, not by anything before it.
      expect(await resolving).toBe("resolved");
    });

    // The bounds below are the claim: woken by the store's own signal (pub/sub for Redis, with
    // its poll fallback set far beyond them), long before any timeout.
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
