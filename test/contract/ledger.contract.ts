/**
 * The outcome ledger's contract, run against every store that keeps one (sqlite, postgres):
 * a row per settlement, appended in the same transaction as the record change and only when
 * the change happened; read back in order, by time and state, page by page.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { CompletedRecord, IdempotencyStore, IndeterminateRecord, LedgerEntry } from "../../src/store/types.js";

const LONG = 60_000;

function entry(record: string, state: LedgerEntry["state"], over: Partial<LedgerEntry> = {}): LedgerEntry {
  const now = Date.now();
  return { record, route: "charges", method: "POST", path: "/v1/charges", state, startedAt: now - 20, settledAt: now, replica: "replica-a", ...over };
}

const completed: CompletedRecord = {
  state: "completed",
  fingerprint: "fp",
  createdAt: 1,
  completedAt: 2,
  attempts: 1,
  response: { status: 201, headers: { "content-type": "application/json" }, body: Buffer.from('{"id":"ch_1"}') },
};
const indeterminate: IndeterminateRecord = { state: "indeterminate", fingerprint: "fp", createdAt: 1, completedAt: 2, reason: "reset" };

export function describeLedgerContract(name: string, makeStore: () => Promise<IdempotencyStore>): void {
  describe(`ledger contract: ${name}`, () => {
    async function withStore<T>(fn: (store: IdempotencyStore & Required<Pick<IdempotencyStore, "outcomes">>) => Promise<T>): Promise<T> {
      const store = await makeStore();
      try {
        if (!store.outcomes) throw new Error(`${name} keeps no ledger`);
        return await fn(store as IdempotencyStore & Required<Pick<IdempotencyStore, "outcomes">>);
      } finally {
        await store.close();
      }
    }
    const mine = (page: { outcomes: LedgerEntry[] }, records: string[]) => page.outcomes.filter((o) => records.includes(o.record));

    it("appends one row per settlement, with what the settlement knew, and only when the record changed", () =>
      withStore(async (store) => {
        const since = Date.now() - 1000;
        const [a, b, c] = [`a-${randomUUID()}`, `b-${randomUUID()}`, `c-${randomUUID()}`];
        for (const key of [a, b, c]) await store.claim(key, { token: key, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
        const full = entry(a, "completed", { status: 201, attempts: 2, gatewayRequestId: "req_gw1", fields: { "/id": "ch_1", "/amount": 1000 } });
        expect(await store.complete(a, a, completed, LONG, full)).toBe(true);
        expect(await store.complete(b, b, indeterminate, LONG, entry(b, "indeterminate"))).toBe(true);
        expect(await store.release(c, c, entry(c, "released", { status: 503 }))).toBe(true);
        // Not the owner: nothing changes, nothing is logged.
        expect(await store.complete(a, "intruder", completed, LONG, entry(a, "completed"))).toBe(false);
        expect(await store.release(b, "intruder", entry(b, "released"))).toBe(false);

        const rows = mine(await store.outcomes({ since, limit: 1000 }), [a, b, c]);
        expect(rows.map((r) => [r.record, r.state])).toEqual([
          [a, "completed"],
          [b, "indeterminate"],
          [c, "released"],
        ]);
        expect(rows[0]).toMatchObject({ ...full, id: expect.any(Number) });
        expect(rows[2]).toMatchObject({ status: 503 });
      }));

    it("keeps the client's key, why an outcome is unknown, and an operator's decision, reason and name", () =>
      withStore(async (store) => {
        const since = Date.now() - 1000;
        const key = `k-${randomUUID()}`;
        await store.claim(key, { token: key, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
        const unknown = entry(key, "indeterminate", { key: "order-42", reason: "reset (UND_ERR_SOCKET)", gatewayRequestId: "req_7" });
        expect(await store.complete(key, key, indeterminate, LONG, unknown)).toBe(true);
        // An operator's row that names only the record takes the request from the record's last row.
        const decided = { decision: "release" as const, reason: "INC-9: no charge at the gateway", operator: "ops@example.com" };
        expect(await store.resolve(key, undefined, { ...entry(key, "resolved-by-operator", decided), route: "", method: "", path: "" })).toBe("resolved");

        const rows = mine(await store.outcomes({ since, limit: 1000 }), [key]);
        expect(rows[0]).toMatchObject({ state: "indeterminate", key: "order-42", reason: "reset (UND_ERR_SOCKET)" });
        expect(rows[0]?.decision).toBeUndefined();
        expect(rows[1]).toMatchObject({
          state: "resolved-by-operator",
          ...decided,
          route: "charges",
          method: "POST",
          path: "/v1/charges",
          key: "order-42",
          gatewayRequestId: "req_7",
        });
      }));

    it("filters by state and time, and pages in id order with a cursor", () =>
      withStore(async (store) => {
        const since = Date.now() - 1000;
        const keys = Array.from({ length: 5 }, (_, i) => `p${i}-${randomUUID()}`);
        for (const key of keys) {
          await store.claim(key, { token: key, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
          await store.complete(key, key, completed, LONG, entry(key, "completed"));
        }
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await store.outcomes({ since, state: "completed", limit: 2, cursor });
          expect(page.outcomes.length).toBeLessThanOrEqual(2);
          seen.push(...page.outcomes.map((o) => o.record));
          cursor = page.cursor;
        } while (cursor);
        expect(seen.filter((k) => keys.includes(k))).toEqual(keys);
        expect(mine(await store.outcomes({ since, state: "released", limit: 100 }), keys)).toEqual([]);
        expect(mine(await store.outcomes({ since: Date.now() + 60_000, limit: 100 }), keys)).toEqual([]);
      }));

    it("an operator's resolution is a row of its own, naming the request of the record's earlier row", () =>
      withStore(async (store) => {
        const since = Date.now() - 1000;
        const key = `r-${randomUUID()}`;
        await store.claim(key, { token: key, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
        await store.complete(key, key, indeterminate, LONG, entry(key, "indeterminate", { route: "payouts", path: "/v1/payouts" }));
        const operator = { ...entry(key, "resolved-by-operator", { status: 201 }), route: "", method: "", path: "" };
        expect(await store.resolve(key, { ...completed, fingerprint: "fp" }, operator)).toBe("resolved");
        const rows = mine(await store.outcomes({ since, limit: 100 }), [key]);
        expect(rows.map((r) => r.state)).toEqual(["indeterminate", "resolved-by-operator"]);
        expect(rows[1]).toMatchObject({ route: "payouts", method: "POST", path: "/v1/payouts", status: 201 });
      }));

    it("a lone surrogate or NUL in a ledger field or gateway request id is stored as U+FFFD, and every settlement of its turn commits", () =>
      withStore(async (store) => {
        const since = Date.now() - 1000;
        const [bad, mateA, mateB] = [`bad-${randomUUID()}`, `mate-a-${randomUUID()}`, `mate-b-${randomUUID()}`];
        for (const key of [bad, mateA, mateB]) await store.claim(key, { token: key, fingerprint: "fp", leaseMs: LONG, ttlMs: LONG });
        const poisoned = entry(bad, "completed", {
          gatewayRequestId: "req_\u0000x",
          fields: { "/id": "ch_\ud83d", "/note": "a\u0000b", "/tail": "\udc00z" },
        });
        // One turn: the three completions share a batch where the store batches them.
        const settled = await Promise.allSettled([
          store.complete(mateA, mateA, completed, LONG, entry(mateA, "completed")),
          store.complete(bad, bad, completed, LONG, poisoned),
          store.complete(mateB, mateB, completed, LONG, entry(mateB, "completed")),
        ]);
        expect(settled).toEqual([
          { status: "fulfilled", value: true },
          { status: "fulfilled", value: true },
          { status: "fulfilled", value: true },
        ]);
        const rows = mine(await store.outcomes({ since, limit: 100 }), [bad, mateA, mateB]);
        expect(rows.map((r) => r.record).sort()).toEqual([bad, mateA, mateB].sort());
        expect(rows.find((r) => r.record === bad)).toMatchObject({
          gatewayRequestId: "req_\ufffdx",
          fields: { "/id": "ch_\ufffd", "/note": "a\ufffdb", "/tail": "\ufffdz" },
        });
        expect(await store.get(bad)).toMatchObject({ state: "completed" });
      }));
  });
}
