/**
 * A retry budget (after Envoy and Finagle): over a sliding window, retries may be at most
 * `ratio` × requests plus `minPerSecond` × window seconds. One slow gateway then costs at
 * most a fraction more load, never a retry storm. Counts live in one-second buckets.
 */
import { EventEmitter } from "cockatiel";
import type { RetryDecision } from "./classify.js";

export interface RetryBudgetOptions {
  ratio: number;
  minPerSecond: number;
  /** window length in ms (whole seconds are used) */
  window: number;
  now?: () => number;
}

export class RetryBudget {
  private readonly seconds: number;
  private readonly requests: Float64Array;
  private readonly retries: Float64Array;
  private readonly stamps: Float64Array;
  private readonly now: () => number;

  constructor(private readonly options: RetryBudgetOptions) {
    this.seconds = Math.max(1, Math.round(options.window / 1000));
    this.requests = new Float64Array(this.seconds);
    this.retries = new Float64Array(this.seconds);
    this.stamps = new Float64Array(this.seconds).fill(-1);
    this.now = options.now ?? Date.now;
  }

  /** Counts one client request that may want retries. */
  recordRequest(): void {
    const slot = this.slot();
    this.requests[slot] = (this.requests[slot] ?? 0) + 1;
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryAcquire(): boolean {
    const slot = this.slot();
    const { requests, retries } = this.totals();
    const allowed = this.options.ratio * requests + this.options.minPerSecond * this.seconds;
    if (retries + 1 > allowed) return false;
    this.retries[slot] = (this.retries[slot] ?? 0) + 1;
    return true;
  }

  /** Requests and retries in the current window. */
  totals(): { requests: number; retries: number } {
    this.slot();
    const current = Math.floor(this.now() / 1000);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.seconds; i++) {
      if ((this.stamps[i] ?? -1) > current - this.seconds) {
        requests += this.requests[i] ?? 0;
        retries += this.retries[i] ?? 0;
      }
    }
    return { requests, retries };
  }

  /** The bucket for this second, cleared if it last held an older second. */
  private slot(): number {
    const second = Math.floor(this.now() / 1000);
    const slot = second % this.seconds;
    if (this.stamps[slot] !== second) {
      this.stamps[slot] = second;
      this.requests[slot] = 0;
      this.retries[slot] = 0;
    }
    return slot;
  }
}

/** A background re-send found the retry budget spent: it waits for the next round. */
class RetryBudgetSpent extends Error {
  constructor() {
    super("retry budget spent");
  }
}

/**
 * The retry budget as a policy of its own, one per route over the upstream's shared
 * RetryBudget: every client request deposits, every retry withdraws. It reports a refusal
 * (`onSpent`) and never touches metrics.
 */
export class RetryBudgetPolicy {
  readonly #spent = new EventEmitter<void>();
  /** A retry was refused: the budget is spent. */
  readonly onSpent = this.#spent.addListener;

  constructor(readonly budget: RetryBudget) {}

  /** Counts one client request: it adds `ratio` retries to the window. */
  deposit(): void {
    this.budget.recordRequest();
  }

  /** A retry the verdict wants is paid for, or suppressed ("budget") once the budget is spent. */
  grant(verdict: RetryDecision): RetryDecision {
    if (!verdict.retry || this.withdraw()) return verdict;
    return { retry: false, suppressed: "budget", reason: verdict.reason };
  }

  /** Pays for a background re-send, or throws when the budget is spent. */
  take(): void {
    if (!this.withdraw()) throw new RetryBudgetSpent();
  }

  private withdraw(): boolean {
    if (this.budget.tryAcquire()) return true;
    this.#spent.emit();
    return false;
  }
}
