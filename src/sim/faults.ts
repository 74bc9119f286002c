/**
 * The simulated gateway's faults and how each arrival draws one: from a hash of (seed,
 * tenant, payment, n-th arrival of that payment), so the n-th arrival of a payment meets the
 * same fault however the requests interleave.
 */
import { createHash } from "node:crypto";

export const FAULTS = ["late", "resetAfterCharge", "resetBeforeCharge", "unavailable", "rateLimited"] as const;
export type Fault = (typeof FAULTS)[number];

/** Probability per arrival of each fault; the rest are answered normally. Sum ≤ 1. */
export type FaultRates = Record<Fault, number>;

/** Where in [0, 1) this arrival falls, and a second independent draw for its latency. */
export function draws(seed: number, tenant: string, payment: string, n: number): [number, number] {
  const digest = createHash("sha256").update(`${seed}\0${tenant}\0${payment}\0${n}`).digest();
  return [digest.readUInt32BE(0) / 2 ** 32, digest.readUInt32BE(4) / 2 ** 32];
}

export function pickFault(rates: Partial<FaultRates>, draw: number): Fault | "none" {
  let edge = 0;
  for (const fault of FAULTS) {
    edge += rates[fault] ?? 0;
    if (draw < edge) return fault;
  }
  return "none";
}
