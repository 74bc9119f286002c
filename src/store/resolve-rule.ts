/**
 * The rule an operator's resolution (admin API) follows in every store: only an indeterminate
 * record is replaced (by a completion made for its fingerprint) or deleted — never a completed
 * record, and never a claim whose lease is live (that request may be at the gateway now). With
 * `not-completed` (a key whose indeterminate record waits in this replica's journal), a missing
 * record or a dead owner's in-flight one is replaced too. Pure; the Redis script (redis/scripts.ts,
 * RESOLVE) is the same rule in Lua, held to it by the store contract suite.
 */
import type { IdempotencyRecord } from "./types.js";

export type ResolveAccept = "indeterminate" | "not-completed";
export type ResolveVerdict = "resolve" | "not_found" | "not_indeterminate";

/**
 * What a resolution may do to `held` (undefined: no live record). `leaseLive`: whether an
 * in-flight `held` is still within its lease, by the store's own clock.
 */
export function resolveVerdict(
  held: IdempotencyRecord | undefined,
  leaseLive: boolean,
  next: { fingerprint: string } | undefined,
  accept: ResolveAccept = "indeterminate",
): ResolveVerdict {
  if (!held) return accept === "not-completed" ? "resolve" : "not_found";
  if (held.state === "completed" || (held.state === "in-flight" && leaseLive)) return "not_indeterminate";
  if (held.state !== "indeterminate" && accept !== "not-completed") return "not_indeterminate";
  if (next && held.fingerprint !== next.fingerprint) return "not_indeterminate";
  return "resolve";
}
