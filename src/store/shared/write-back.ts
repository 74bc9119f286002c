/**
 * The journal's way back into the remote store, and the operator's resolutions, one at a time:
 * a journaled indeterminate record the operator resolved is dropped from the journal in the
 * same turn, so a later write-back can never put it back over the operator's answer (or
 * revive it after a release).
 */
import { resolveVerdict } from "../resolve-rule.js";
import type { CompletedRecord, LedgerEntry, RemoteStore, ResolveResult } from "../types.js";
import type { Backlog } from "./backlog.js";

/** Bound on journaled keys remembered with their owner token (beyond it, written back once the lease runs out). */
const MAX_OWNED = 10_000;

export class WriteBack {
  private turn: Promise<unknown> = Promise.resolve();
  /**
   * Journaled keys whose claim this process still holds (key → owner token): their write-back
   * completes them by that token, as soon as the store takes it, not a lease later — other
   * replicas wait on (or take over) a claim in flight until then.
   */
  private readonly owned = new Map<string, string>();

  constructor(
    private readonly remote: RemoteStore,
    private readonly backlog: Backlog,
  ) {}

  /** `key` was journaled while this process holds its claim by `token`. */
  own(key: string, token: string): void {
    if (this.owned.size < MAX_OWNED) this.owned.set(key, token);
  }

  /** Writes the journal back (what the store cannot take yet stays). */
  run(): Promise<void> {
    return this.inTurn(async () => {
      await this.backlog.writeBack(this.remote, this.owned);
      for (const key of this.owned.keys()) if (!this.backlog.has(key)) this.owned.delete(key);
    });
  }

  /** An operator resolution (IdempotencyStore.resolve), in its turn. */
  resolve(key: string, next: CompletedRecord | undefined, ledger: LedgerEntry | undefined): Promise<ResolveResult> {
    return this.inTurn(async () => {
      const journaled = this.backlog.get(key);
      if (!journaled) return this.remote.resolve(key, next, ledger);
      // The journal is the truth for this key: an answer in it is final, and an
      // indeterminate record in it is resolved in the store, then dropped from the journal.
      const verdict = resolveVerdict(journaled.record, false, next);
      if (verdict !== "resolve") return verdict;
      const result = await this.remote.resolveJournaled(key, next, journaled.writtenAt + journaled.ttlMs - Date.now(), ledger);
      if (result === "resolved") {
        await this.backlog.remove(key);
        this.owned.delete(key);
      }
      return result;
    });
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn);
    this.turn = run.catch(() => {});
    return run;
  }
}
