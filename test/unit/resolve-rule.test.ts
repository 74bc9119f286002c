/** The one rule an operator's resolution follows in every store (the contract suite holds each store, and the Lua copy, to it). */
import { describe, expect, it } from "vitest";
import { resolveVerdict } from "../../src/store/resolve-rule.js";
import type { IdempotencyRecord } from "../../src/store/types.js";

const inFlight: IdempotencyRecord = { state: "in-flight", token: "t", fingerprint: "fp", createdAt: 1, leaseUntil: 2, expiresAt: 3 };
const indeterminate: IdempotencyRecord = { state: "indeterminate", fingerprint: "fp", createdAt: 1, completedAt: 2, reason: "reset", attempts: 1 };
const completed: IdempotencyRecord = {
  state: "completed",
  fingerprint: "fp",
  createdAt: 1,
  completedAt: 2,
  attempts: 1,
  response: { status: 201, headers: {}, body: Buffer.from("{}") },
};

describe("resolveVerdict", () => {
  it.each([
    ["no record", undefined, false, undefined, "indeterminate", "not_found"],
    ["no record, journaled", undefined, false, undefined, "not-completed", "resolve"],
    ["an indeterminate record, released", indeterminate, false, undefined, "indeterminate", "resolve"],
    ["an indeterminate record, completed for its fingerprint", indeterminate, false, { fingerprint: "fp" }, "indeterminate", "resolve"],
    ["an indeterminate record, completed for another fingerprint", indeterminate, false, { fingerprint: "other" }, "indeterminate", "not_indeterminate"],
    ["a completed record", completed, false, undefined, "indeterminate", "not_indeterminate"],
    ["a completed record, journaled", completed, false, undefined, "not-completed", "not_indeterminate"],
    ["a claim within its lease", inFlight, true, undefined, "not-completed", "not_indeterminate"],
    ["a dead owner's claim", inFlight, false, undefined, "indeterminate", "not_indeterminate"],
    ["a dead owner's claim, journaled", inFlight, false, { fingerprint: "fp" }, "not-completed", "resolve"],
  ] as const)("%s", (_name, held, leaseLive, next, accept, verdict) => {
    expect(resolveVerdict(held, leaseLive, next, accept)).toBe(verdict);
  });
});
