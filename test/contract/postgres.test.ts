import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createPostgresStore } from "../../src/store/postgres/store.js";
import type { CompletedRecord, RemoteStore } from "../../src/store/types.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";
import { describeLedgerContract } from "./ledger.contract.js";
import { describeStoreContract } from "./store.contract.js";

/** Each store in a schema of its own on the machine's PostgreSQL, dropped after the file. */
const schemas = useDroppedSchemas();

function postgresStore(): Promise<RemoteStore> {
  const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  schemas.push(schema);
  // The poll fallback far beyond the contract's wake-up bounds: a waiter woken in time was woken by NOTIFY.
  return createPostgresStore({ nodes: [SHARED_POSTGRES], schema, operationTimeout: 2000, poolSize: 4, pollFallbackMs: 30_000, ledgerRetentionMs: 86_400_000 });
}

describeStoreContract("postgres", postgresStore);
describeLedgerContract("postgres", postgresStore);

describe("postgres store: completions batched in one turn", () => {
  it("a value PostgreSQL refuses fails only its own completion; its batch-mates commit", async () => {
    const store = await postgresStore();
    try {
      const [bad, mateA, mateB] = [`bad-${randomUUID()}`, `mate-a-${randomUUID()}`, `mate-b-${randomUUID()}`];
      for (const key of [bad, mateA, mateB]) await store.claim(key, { token: key, fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
      const answer = (status: number): CompletedRecord => ({
        state: "completed",
        fingerprint: "fp",
        createdAt: 1,
        completedAt: 2,
        response: { status, headers: {}, body: Buffer.from("{}") },
      });
      // 2^31 does not fit the integer column: the database refuses the value (SQLSTATE 22003).
      const settled = await Promise.allSettled([
        store.complete(mateA, mateA, answer(201), 60_000, undefined),
        store.complete(bad, bad, answer(2 ** 31), 60_000, undefined),
        store.complete(mateB, mateB, answer(201), 60_000, undefined),
      ]);
      expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(settled[1]).toMatchObject({ reason: { code: "22003" } });
      expect(await store.get(mateA)).toMatchObject({ state: "completed", response: { status: 201 } });
      expect(await store.get(mateB)).toMatchObject({ state: "completed", response: { status: 201 } });
      expect(await store.get(bad)).toMatchObject({ state: "in-flight" });
    } finally {
      await store.close();
    }
  });
});
