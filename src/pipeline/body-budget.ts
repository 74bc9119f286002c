/**
 * The request-body bytes this process holds in memory, across all requests, and the leases
 * that reserve them against `limits.maxBufferedBodyBytes` — the bound Envoy's overload
 * manager puts on buffers: past it, new bodies are refused instead of read.
 *
 * One count per process, not per payguard instance or config generation: memory is the
 * process's, and a reload must not forget the bytes the old generation's requests hold. Each
 * lease reserves against the bound of the request that took it (its generation's config).
 */

let held = 0;

/** Body bytes held right now by all requests (the payguard_body_buffered_bytes gauge). */
export function bufferedBodyBytes(): number {
  return held;
}

/** One request's share of the budget. */
export interface BodyLease {
  /** whether a new body may start: not once the bound is reached */
  admits(): boolean;
  /** reserves `n` more bytes; false, with nothing reserved, when that would pass the bound */
  take(n: number): boolean;
  /** trims this lease to `n` bytes (≤ what it holds), once its pieces are joined into one */
  keep(n: number): void;
  /**
   * The request is done with the body: gives back everything this lease holds — once no
   * `retain` holds it still. Safe to call more than once.
   */
  release(): void;
  /**
   * Keeps the body counted past its request (a background completion re-sends it) until the
   * returned function is called.
   */
  retain(): () => void;
}

/**
 * A lease against `bound` bytes for one request's body. Nothing is reserved until `take`;
 * the owner must `release` when the request ends, however it ends.
 */
export function bodyLease(bound: number): BodyLease {
  let mine = 0;
  let retained = 0;
  let ended = false;
  const free = () => {
    held -= mine;
    mine = 0;
  };
  return {
    admits: () => held < bound,
    take(n) {
      if (held + n > bound) return false;
      held += n;
      mine += n;
      return true;
    },
    keep(n) {
      held -= mine - n;
      mine = n;
    },
    release() {
      ended = true;
      if (retained === 0) free();
    },
    retain() {
      retained++;
      let done = false;
      return () => {
        if (done) return;
        done = true;
        retained--;
        if (retained === 0 && ended) free();
      };
    },
  };
}
