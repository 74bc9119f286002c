/**
 * The idempotency store contract, shared by the memory store and the Redis store: an
 * atomic claim with an owner token and a lease; complete, renew and release only by the
 * owner. test/contract/store.contract.ts is the executable form of this contract.
 */

/** A response as it will be replayed: status, end-to-end headers, body bytes. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface InFlightRecord {
  state: "in-flight";
  /** the owner's secret token: only its holder may complete, renew or release */
  token: string;
  fingerprint: string;
  createdAt: number;
  /** epoch ms; past it, the owner is presumed dead and a new claim takes over */
  leaseUntil: number;
  /** epoch ms; the record is forgotten after this even if nobody takes it over */
  expiresAt: number;
}

export interface CompletedRecord {
  state: "completed";
  fingerprint: string;
  createdAt: number;
  completedAt: number;
  response: StoredResponse;
}

/** The request was sent and its outcome is unknown: repeats must never reach the gateway. */
export interface IndeterminateRecord {
  state: "indeterminate";
  fingerprint: string;
  createdAt: number;
  completedAt: number;
  reason: string;
}

export type FinalRecord = CompletedRecord | IndeterminateRecord;
export type IdempotencyRecord = InFlightRecord | FinalRecord;

export interface ClaimRequest {
  token: string;
  fingerprint: string;
  leaseMs: number;
  /** how long an abandoned in-flight record is kept at the most */
  ttlMs: number;
}

/** The in-flight record a claim creates at `now`. */
export function inFlightRecord(request: ClaimRequest, now: number): InFlightRecord {
  return {
    state: "in-flight",
    token: request.token,
    fingerprint: request.fingerprint,
    createdAt: now,
    leaseUntil: now + request.leaseMs,
    expiresAt: now + request.ttlMs,
  };
}

export type ClaimResult =
  /** the caller owns the key now */
  | { outcome: "claimed" }
  /** the caller owns the key now, but an earlier owner's lease expired mid-request: its outcome is unknown */
  | { outcome: "taken-over"; previous: InFlightRecord }
  /** somebody else holds or finished the key */
  | { outcome: "exists"; record: IdempotencyRecord };

export interface StoreStats {
  entries: number;
  bytes: number;
  inFlight: number;
}

export interface IdempotencyStore {
  /** Atomic: exactly one concurrent caller gets "claimed" (or "taken-over") for a key. */
  claim(key: string, request: ClaimRequest): Promise<ClaimResult>;
  get(key: string): Promise<IdempotencyRecord | undefined>;
  /** Owner only: replace the in-flight record with its final record, kept for ttlMs. */
  complete(key: string, token: string, record: FinalRecord, ttlMs: number): Promise<boolean>;
  /** Owner only: extend the lease. false when the caller no longer owns the key. */
  renew(key: string, token: string, leaseMs: number): Promise<boolean>;
  /** Owner only: forget the key, so a later request may claim it afresh. */
  release(key: string, token: string): Promise<boolean>;
  /** Resolves when the key is completed or released, or after timeoutMs, whichever is first. */
  waitForChange(key: string, timeoutMs: number): Promise<void>;
  stats(): StoreStats;
  close(): Promise<void>;
}

/** A store failure payguard must not swallow; `code` picks the problem answered. */
export class StoreError extends Error {
  readonly isStoreError = true;
  constructor(
    readonly code: "store_full" | "store_unavailable",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StoreError";
  }
}

export function isStoreError(err: unknown): err is StoreError {
  return typeof err === "object" && err !== null && (err as { isStoreError?: unknown }).isStoreError === true;
}
