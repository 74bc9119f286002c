/**
 * The idempotency store contract, shared by every store (memory, SQLite, PostgreSQL, Redis):
 * an atomic claim with an owner token and a lease; complete, renew and release only by the
 * owner. test/contract/store.contract.ts is the executable form of this contract.
 */
import { brandGuard } from "../brand.js";

/** A response as it will be replayed: status, end-to-end headers, body bytes. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/**
 * What a record's request was: enough for an operator to find the payment at the gateway
 * (docs/operations.md, "Unknown outcomes"). Absent on records written before payguard kept it.
 * The client's key is kept here and in the ledger, never in logs or traces: it names a
 * payment and is not a credential, but whoever holds it and the payload gets the stored
 * answer replayed, so it stays where the admin API's token and the database's access do.
 */
export interface RecordAbout {
  method: string;
  /** the normalised path, without the query */
  path: string;
  route: string;
  /** gateways.<name>; "default" for the `upstream:` shorthand */
  gateway: string;
  /** the client's idempotency key, as it sent it */
  key: string;
  /** the gateway received the key too (an upstream key header, or the body field) */
  keyForwarded: boolean;
  /** final records: the gateway's own id for its answer (upstream.requestId), when it gave one */
  gatewayRequestId?: string;
}

export interface InFlightRecord {
  state: "in-flight";
  /** the owner's secret token: only its holder may complete, renew or release */
  token: string;
  fingerprint: string;
  createdAt: number;
  /** epoch ms; past it, the owner is presumed dead and a new claim takes over */
  leaseUntil: number;
  /**
   * epoch ms; the record is forgotten after this even if nobody takes it over. Never before
   * leaseUntil, and each renewal moves it on as far as it moves the lease (see renewedLease).
   */
  expiresAt: number;
  about?: RecordAbout;
}

export interface CompletedRecord {
  state: "completed";
  fingerprint: string;
  createdAt: number;
  completedAt: number;
  response: StoredResponse;
  /** upstream attempts the request took (absent in records written before it was recorded) */
  attempts?: number;
  about?: RecordAbout;
}

/** The request was sent and its outcome is unknown: repeats must never reach the gateway. */
export interface IndeterminateRecord {
  state: "indeterminate";
  fingerprint: string;
  createdAt: number;
  completedAt: number;
  reason: string;
  /** upstream attempts the request took, when known */
  attempts?: number;
  about?: RecordAbout;
}

export type FinalRecord = CompletedRecord | IndeterminateRecord;
export type IdempotencyRecord = InFlightRecord | FinalRecord;

export interface ClaimRequest {
  token: string;
  fingerprint: string;
  leaseMs: number;
  /** how long the in-flight record is kept past its claim (at least leaseMs), each renewal adding what it adds to the lease */
  ttlMs: number;
  /** what the request was, kept on the record for the admin API */
  about?: RecordAbout;
}

/** The in-flight record a claim creates at `now`: it expires no sooner than its lease. */
export function inFlightRecord(request: ClaimRequest, now: number): InFlightRecord {
  return {
    state: "in-flight",
    token: request.token,
    fingerprint: request.fingerprint,
    createdAt: now,
    leaseUntil: now + request.leaseMs,
    expiresAt: now + Math.max(request.ttlMs, request.leaseMs),
    ...(request.about === undefined ? {} : { about: request.about }),
  };
}

/**
 * The lease and expiry of an in-flight record renewed at `now`. The expiry moves on as far as
 * the lease does (and never falls short of it): a record whose owner still renews is never
 * forgotten — which would let a retry claim the key as new and reach the gateway a second
 * time — and once the owner stops, the record is kept as long past its last lease as the claim
 * kept it (ttl − lease), so a retry then is taken over as an unknown outcome, not as new.
 * The SQL stores and the Redis script compute the same.
 */
export function renewedLease(
  record: Pick<InFlightRecord, "leaseUntil" | "expiresAt">,
  now: number,
  leaseMs: number,
): { leaseUntil: number; expiresAt: number } {
  const leaseUntil = now + leaseMs;
  return { leaseUntil, expiresAt: Math.max(record.expiresAt + Math.max(0, leaseUntil - record.leaseUntil), leaseUntil) };
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

export type RecordState = IdempotencyRecord["state"];

/** A record as the admin API sees it: with its key, its expiry and where it lives. */
export interface RecordEntry {
  key: string;
  record: IdempotencyRecord;
  /** epoch ms the store forgets the record, when the store can tell */
  expiresAt?: number;
  /** journal: answered while the shared store was down, not yet written back (this replica only) */
  source: "memory" | "sqlite" | "redis" | "postgres" | "journal";
}

export interface ListRequest {
  state: RecordState;
  /** the most entries one page holds */
  limit: number;
  /** from the previous page's `cursor`; undefined for the first page */
  cursor?: string | undefined;
}

/**
 * One page of a listing. A page may hold fewer than `limit` entries (even none) while
 * `cursor` is set: keep paging until it is undefined. A listing is not a snapshot: records
 * written meanwhile may or may not appear, one may appear twice.
 */
export interface ListPage {
  entries: RecordEntry[];
  cursor?: string;
}

/**
 * resolved: done. not_found: no record. not_indeterminate: the record is in flight or
 * completed (or, for a completion, its fingerprint is not the one given): nothing changed.
 */
export type ResolveResult = "resolved" | "not_found" | "not_indeterminate";

/** How a settlement ended, as the outcome ledger records it. */
export type LedgerState = "completed" | "indeterminate" | "released" | "completed-in-background" | "resolved-by-operator" | "settled-by-event";

/** What a gateway's event reported of a payment (webhooks). */
export type EventOutcome = "succeeded" | "failed" | "refunded";

/**
 * One settlement, as the outcome ledger keeps it: an append-only row per settlement, written
 * by the stores that have a ledger (sqlite, postgres) in the same transaction as the record.
 * Never a request body, a secret or card data: named fields only, and response fields the
 * config picked by JSON pointer (config refuses pointers into secret or card fields).
 */
export interface LedgerEntry {
  /** the record id (the scoped key), as the admin API knows it */
  record: string;
  /** the gateway the payment went to (`gateways.<name>`; "default" for the `upstream:` shorthand); absent on rows written before payguard had several gateways */
  gateway?: string;
  route: string;
  method: string;
  /** the normalised request path, without its query */
  path: string;
  state: LedgerState;
  /** the gateway's status, when it answered */
  status?: number;
  attempts?: number;
  /** the gateway's own id for its answer (upstream.requestId) */
  gatewayRequestId?: string;
  /** response fields picked by idempotency.ledger.fields (scalars) */
  fields?: Record<string, string | number | boolean | null>;
  /** epoch ms: the request was claimed, and settled */
  startedAt: number;
  settledAt: number;
  /** the replica that settled it (PAYGUARD_REPLICA, else the host name) */
  replica: string;
  /** what a gateway's event may name the payment by: its upstream idempotency key, else its reference (the profile's request field) */
  link?: string;
  /** settled-by-event: the event, and the outcome it reported */
  eventId?: string;
  outcome?: EventOutcome;
  /** the client's idempotency key (see RecordAbout); absent on rows written before it was kept */
  key?: string;
  /** indeterminate: why the outcome is unknown; resolved-by-operator: the operator's reason */
  reason?: string;
  /** resolved-by-operator: what the operator decided, and who */
  decision?: "complete" | "release";
  operator?: string;
}

/** A page of the ledger, newest last, from `since` on. */
export interface OutcomeQuery {
  /** epoch ms: settled at or after */
  since: number;
  state?: LedgerState;
  /** only this gateway's rows (gateways.<name>) */
  gateway?: string;
  limit: number;
  cursor?: string | undefined;
}

export interface OutcomePage {
  outcomes: (LedgerEntry & { id: number })[];
  cursor?: string;
}

/** A gateway's event notification, verified, as the webhook inbox keeps it. */
export interface InboundEvent {
  gateway: string;
  /** the gateway's id for it (Adyen: eventCode:pspReference:success) */
  eventId: string;
  /** the webhook endpoint's path it came in on */
  endpoint: string;
  /** epoch ms */
  receivedAt: number;
  /** the bytes the gateway sent */
  body: Buffer;
  /** the headers delivered with it (never Authorization or cookies) */
  headers: Record<string, string>;
}

export type WebhookState = "pending" | "delivered" | "dead";

export interface StoredEvent extends InboundEvent {
  state: WebhookState;
  attempts: number;
  /** epoch ms: when a pending event is due */
  nextAttemptAt: number;
  deliveredAt?: number;
  /** why the last attempt failed */
  lastError?: string;
}

/** A page of the inbox, by (gateway, event id). */
export interface EventQuery {
  state?: WebhookState;
  gateway?: string;
  limit: number;
  cursor?: string | undefined;
}

/** What an event says of the payments it names: by their link or the gateway's request id (ledger columns). */
export interface EventSettlement {
  links: string[];
  requestIds: string[];
  outcome: EventOutcome;
  /** the replica that received it, for the ledger rows */
  replica: string;
  /**
   * when it names no payment yet (its event came before the payment's ledger row: payguard
   * still waiting on the gateway), it is matched again until then (matchLate)
   */
  matchUntil?: number;
}

/** Events stored before they are acknowledged (sqlite, postgres): docs/webhooks.md. */
export interface WebhookInbox {
  /**
   * Durable before it resolves: "stored" the first time (gateway, eventId) is seen, "duplicate"
   * after. A stored event that settles payments appends, in the same transaction, a
   * `settled-by-event` ledger row to each payment (record) it names.
   */
  accept(event: InboundEvent, settlement?: EventSettlement): Promise<"stored" | "duplicate">;
  event(gateway: string, eventId: string): Promise<StoredEvent | undefined>;
  /**
   * Up to `limit` pending events of `endpoint` due at `now` that no live lease holds, oldest due
   * first, each now leased to `owner` until now + leaseMs: no other replica delivers them meanwhile.
   */
  lease(endpoint: string, owner: string, now: number, leaseMs: number, limit: number): Promise<StoredEvent[]>;
  /**
   * The outcome of one delivery attempt by the lease's owner: delivered (the service answered
   * 2xx: never delivered again), again at `nextAttemptAt`, or dead (given up). false when
   * `owner` no longer holds the lease (another replica took the event over): nothing changes.
   */
  settle(event: Pick<StoredEvent, "gateway" | "eventId">, owner: string, outcome: DeliveryOutcome): Promise<boolean>;
  /** Events by (gateway, event id), from `cursor` on (the admin API). */
  list(query: EventQuery): Promise<{ events: StoredEvent[]; cursor?: string }>;
  /**
   * An operator's re-delivery: the event is pending and due at `now`, whatever its state;
   * false when there is none, or a replica holds its lease (an attempt is under way).
   */
  redeliver(gateway: string, eventId: string, now: number): Promise<boolean>;
  /**
   * Events that named no payment when stored, matched again: each appends a settled-by-event
   * row (at `now`) to the payments whose ledger rows have appeared since, once per payment,
   * and stops looking; past its matchUntil it stops too. How many rows were appended.
   */
  matchLate(now: number, limit: number, after?: MatchCursor): Promise<{ appended: number; next?: MatchCursor }>;
  /** An operator's re-delivery of a range: at most `limit` events in `state` (oldest received first); how many. */
  redeliverRange(range: EventRange, now: number): Promise<number>;
}

/**
 * Where a matching pass stopped, among the waiting events in (match_until, gateway, event id)
 * order: the next pass goes on from there, so every waiting event gets its turn however many
 * there are. Undefined: from the start.
 */
export type MatchCursor = readonly [matchUntil: number, gateway: string, eventId: string];

/** A range of events to re-deliver: one final state, optionally one gateway and a window of receipt [from, to). */
export interface EventRange {
  state: "delivered" | "dead";
  gateway?: string;
  receivedFrom: number;
  receivedTo: number;
  limit: number;
}

export type DeliveryOutcome =
  | { state: "delivered"; at: number }
  | { state: "pending"; nextAttemptAt: number; error: string }
  | { state: "dead"; at: number; error: string };

export interface IdempotencyStore {
  /** Atomic: exactly one concurrent caller gets "claimed" (or "taken-over") for a key. */
  claim(key: string, request: ClaimRequest): Promise<ClaimResult>;
  get(key: string): Promise<IdempotencyRecord | undefined>;
  /**
   * Owner only: replace the in-flight record with its final record, kept for ttlMs. A store
   * with a ledger appends `entry` in the same transaction.
   */
  complete(key: string, token: string, record: FinalRecord, ttlMs: number, entry?: LedgerEntry): Promise<boolean>;
  /** Owner only: extend the lease, and the record's expiry with it (renewedLease). false when the caller no longer owns the key. */
  renew(key: string, token: string, leaseMs: number): Promise<boolean>;
  /** Owner only: forget the key, so a later request may claim it afresh (`entry` as for complete). */
  release(key: string, token: string, entry?: LedgerEntry): Promise<boolean>;
  /** The record with its expiry and source (admin lookups). */
  inspect(key: string): Promise<RecordEntry | undefined>;
  /** One page of the records in `state` (admin listings). Throws InvalidCursorError for a cursor it did not make. */
  list(request: ListRequest): Promise<ListPage>;
  /**
   * Operator resolution of an indeterminate record, atomic (compare-and-set on the state):
   * `next` replaces it (kept for the indeterminate record's remaining TTL, and only if its
   * fingerprint is the record's), or, with `next` undefined, the key is forgotten so the
   * client's retry goes to the gateway afresh. Waiters are woken as on complete/release.
   */
  resolve(key: string, next: CompletedRecord | undefined, entry?: LedgerEntry): Promise<ResolveResult>;
  /** the webhook inbox, when the store keeps one (sqlite, postgres) */
  webhooks?: WebhookInbox;
  /** The outcome ledger, for stores that keep one (sqlite, postgres). */
  outcomes?(query: OutcomeQuery): Promise<OutcomePage>;
  /** Resolves when the key is completed or released, or after timeoutMs, whichever is first. */
  waitForChange(key: string, timeoutMs: number): Promise<void>;
  stats(): StoreStats;
  close(): Promise<void>;
}

/**
 * A store in another server, shared by the replicas (Redis, PostgreSQL): what the shared
 * layer (shared/) needs of it besides the contract, to write back its local queue and to
 * tell readiness.
 */
export interface RemoteStore extends IdempotencyStore {
  /**
   * resolve() for a key whose indeterminate record sits in this replica's journal: the remote
   * store may hold the dead owner's in-flight record or nothing; anything but a completed
   * record is replaced (kept for ttlMs) or deleted.
   */
  resolveJournaled(key: string, next: CompletedRecord | undefined, ttlMs: number, entry?: LedgerEntry): Promise<ResolveResult>;
  /**
   * Writes a final record from the journal. written; superseded (a final record that must stay
   * is there); busy (a live in-flight claim: try later)
   */
  putFinal(key: string, record: FinalRecord, ttlMs: number, entry?: LedgerEntry): Promise<"written" | "superseded" | "busy">;
  /** true while the last operation or health check reached the server */
  healthy(): boolean;
  /** A read with the operation deadline (a health check); false instead of throwing */
  ping(): Promise<boolean>;
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

export const isStoreError = brandGuard<StoreError>("isStoreError");

/** A listing cursor the store did not make (or cannot read any more). */
export class InvalidCursorError extends Error {
  readonly isInvalidCursor = true;
  constructor() {
    super("the cursor is not one this store returned");
    this.name = "InvalidCursorError";
  }
}

export const isInvalidCursor = brandGuard<InvalidCursorError>("isInvalidCursor");
