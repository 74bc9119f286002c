/**
 * What the shared store's layers (store.ts) pass on to one another: a store's request path —
 * claim to settlement, the reads, the wake-ups and the stats. Listing, operator resolutions,
 * the ledger, readiness and close are the journal's and the composition's, not the layers'.
 */
import type { Metrics } from "../../metrics/registry.js";
import { type IdempotencyStore, isStoreError } from "../types.js";

export type Layer = Pick<IdempotencyStore, "claim" | "get" | "complete" | "renew" | "release" | "inspect" | "waitForChange" | "stats">;

/** The remote store did not answer (down, or past the operation deadline). */
export function isUnavailable(err: unknown): boolean {
  return isStoreError(err) && err.code === "store_unavailable";
}

/** Counts a store_unavailable failure of `op`; false for any other error (rethrown by the caller). */
export function countedUnavailable(metrics: Metrics, op: string, err: unknown): boolean {
  if (!isUnavailable(err)) return false;
  metrics.storeErrors.inc({ op });
  return true;
}
