/**
 * A request's total deadline. Its `signal` is what the cockatiel policies get as their
 * execute context's signal (IDefaultPolicyContext.signal): the bulkhead and the retry give up
 * once it aborts, and every attempt is aborted with it.
 *
 * No timer and no AbortController on the hot path (an AbortController alone costs ~1.5 kB of
 * heap per request): the attempts stop at `at` themselves (their timer is the attempt timeout
 * or what is left of the deadline, whichever ends first) and the backoff never waits past
 * it. Only a wait that nothing else bounds, a bulkhead queue, is raced against the deadline
 * (`race`): the signal exists from then on, and aborts at the deadline.
 */
import { UpstreamTimeoutError } from "../upstream/classify.js";

/** What the backoff needs of an outcome it waits after. */
export interface RetryTiming {
  /** the gateway asked for at least this long (Retry-After), else 0 */
  readonly minDelayMs: number;
  /** epoch ms of the request's total deadline */
  readonly deadline: number;
  /** told when the wait runs into the deadline: no attempt may start after it (Deadline.spend) */
  readonly spend?: () => void;
}

export class Deadline {
  /** epoch ms */
  readonly at: number;
  #controller: AbortController | undefined;
  #spent = false;

  private constructor(
    /** the limit it enforces, in ms (for the error's message) */
    readonly totalMs: number,
    private readonly external: AbortSignal | undefined,
  ) {
    this.at = Date.now() + totalMs;
  }

  /** A client request's deadline, `ms` from now. */
  static after(ms: number): Deadline {
    return new Deadline(ms, undefined);
  }

  /** A deadline `ms` from now whose signal is `signal` (a shutdown); nothing is raced against it. */
  static within(ms: number, signal: AbortSignal): Deadline {
    return new Deadline(ms, signal);
  }

  /** Aborts at the deadline once raced, or with the signal it was made `within`; undefined while nothing can abort it. */
  get signal(): AbortSignal | undefined {
    return this.#controller?.signal ?? this.external;
  }

  remaining(now = Date.now()): number {
    return this.at - now;
  }

  /** No attempt may start, whatever the clock says: the deadline was spent on a wait, or its signal aborted. */
  get closed(): boolean {
    return this.#spent || this.signal?.aborted === true;
  }

  /** What a backoff needs to know of it, with the gateway's Retry-After. */
  timing(minDelayMs: number): RetryTiming {
    return { minDelayMs, deadline: this.at, spend: () => this.spend() };
  }

  /**
   * What is left of the deadline goes to one wait (a backoff cut short at the deadline): no
   * attempt may start after it, even if its timer fires a little before the wall clock says
   * the deadline is here.
   */
  spend(): void {
    this.#spent = true;
  }

  /**
   * `work`, raced against the deadline: at the deadline the signal aborts (cancelling what
   * runs under it) and the race rejects with the total timeout.
   */
  async race<T>(work: () => Promise<T>): Promise<T> {
    if (this.external !== undefined) return work();
    const controller = new AbortController();
    this.#controller = controller;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new UpstreamTimeoutError(this.totalMs, "total"));
      }, this.remaining());
    });
    try {
      return await Promise.race([work(), expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}
