/**
 * Settlements this process owes: keys it claimed and has not settled, and answers the store
 * has not taken yet.
 *
 * When the gateway has answered but the store cannot take the answer (a shared store down and the
 * journal's disk full, say), the answer is not dropped and the key is not freed: it is kept
 * here, in this process, and written again with capped backoff until the store takes it (or
 * the key turns out to be someone else's). Meanwhile the lease stays renewed, so no other
 * replica takes the key over, and a duplicate arriving here is answered from this copy.
 * The client gets the answer at once (it is the truth: the gateway acted), and
 * `payguard_idempotency_settlements_pending` counts what is not durable yet.
 *
 * Shutdown waits for both kinds before it closes the store (quiesce).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { FinalRecord } from "../store/types.js";

/** Writes the answer; true once the store took it, false when the key is no longer ours. */
export type DurableWrite = () => Promise<boolean>;

interface Pending {
  record: FinalRecord;
  /** settles when the store took the answer or the key was lost */
  done: Promise<"stored" | "lost">;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;
/** While shutting down, quiesce's deadline bounds the retries: they come faster. */
const CLOSING_RETRY_MS = 50;

export class Settlements {
  /** claimed keys whose request is still running (its upstream call, its settlement) */
  readonly #open = new Set<Promise<unknown>>();
  readonly #pending = new Map<string, Pending>();
  readonly #closing = new AbortController();

  /** Counts `work` (one claimed key's request) as open until it ends. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#open.add(work);
    const forget = () => this.#open.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** Aborted when shutdown begins to wait for the settlements (quiesce): background work stops. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  /** The answer for `key` this process holds because the store has not taken it yet. */
  pending(key: string): FinalRecord | undefined {
    return this.#pending.get(key)?.record;
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Keeps `record` for `key` and retries `write` until it returns (true: stored, false: lost);
   * `onDone` runs then, with the outcome.
   */
  keep(key: string, record: FinalRecord, write: DurableWrite, onDone: (outcome: "stored" | "lost") => void): void {
    const done = this.#retry(write).then((outcome) => {
      this.#pending.delete(key);
      onDone(outcome);
      return outcome;
    });
    this.#pending.set(key, { record, done });
  }

  /**
   * Resolves once every open request has settled and every kept answer is stored, or when
   * `timeoutMs` has passed; says what is left. Retries still running go on until then.
   */
  async quiesce(timeoutMs: number): Promise<{ open: number; pending: number }> {
    this.#closing.abort();
    const all = async () => {
      while (this.#open.size > 0 || this.#pending.size > 0) {
        await Promise.allSettled([...this.#open, ...[...this.#pending.values()].map((p) => p.done)]);
      }
    };
    const deadline = new AbortController();
    await Promise.race([all(), sleep(timeoutMs, undefined, { signal: deadline.signal }).catch(() => {})]);
    deadline.abort();
    return { open: this.#open.size, pending: this.#pending.size };
  }

  async #retry(write: DurableWrite): Promise<"stored" | "lost"> {
    for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      await sleep(this.#closing.signal.aborted ? CLOSING_RETRY_MS : delay, undefined, { ref: false });
      try {
        return (await write()) ? "stored" : "lost";
      } catch {
        // still failing: the next attempt, after a longer pause
      }
    }
  }
}
