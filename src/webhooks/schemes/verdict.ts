/**
 * What a signature scheme says of an inbound webhook: the events it carries, each with the id
 * payguard stores it under, or why it is refused. Pure.
 */
import { timingSafeEqual } from "node:crypto";
import type { EventSettlement } from "../../store/types.js";

/** What an event says of the payments it names (the receiving replica is added by the listener). */
export type Settles = Omit<EventSettlement, "replica">;

export type Refusal = "signature_missing" | "signature_invalid" | "signature_stale" | "payload_invalid";

export type Verdict = { ok: true; eventIds: string[] } | { ok: false; refusal: Refusal };

export const refuse = (refusal: Refusal): Verdict => ({ ok: false, refusal });

/** Constant-time equality of two encoded signatures (different lengths are unequal). */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
