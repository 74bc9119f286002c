/**
 * The webhook inbox as rows of the `webhook_events` table, the same for SQLite and PostgreSQL:
 * one row per (gateway, event id), inserted once — a redelivery changes nothing — with the
 * delivery state the deliverer moves on (docs/webhooks.md). Times are epoch milliseconds. Pure.
 */
import { decodeCursor, encodeCursor } from "../cursor.js";
import type { DeliveryOutcome, EventSettlement, InboundEvent, LedgerEntry, MatchCursor, StoredEvent, WebhookState } from "../types.js";

export const EVENT_COLUMNS = ["gateway", "event_id", "endpoint", "received_at", "body", "headers", "next_attempt_at"] as const;

export interface EventRow {
  gateway: string;
  event_id: string;
  endpoint: string;
  received_at: number | string;
  body: Buffer;
  headers: string;
  state: string;
  attempts: number | string;
  next_attempt_at: number | string;
  delivered_at: number | string | null;
  last_error: string | null;
}

/** An event's values in EVENT_COLUMNS' order: due for its first delivery at once. */
export function eventValues(event: InboundEvent): unknown[] {
  return [event.gateway, event.eventId, event.endpoint, event.receivedAt, event.body, JSON.stringify(event.headers), event.receivedAt];
}

export function storedEventOf(row: EventRow): StoredEvent {
  return {
    gateway: row.gateway,
    eventId: row.event_id,
    endpoint: row.endpoint,
    receivedAt: Number(row.received_at),
    body: row.body,
    headers: JSON.parse(row.headers) as Record<string, string>,
    state: row.state as WebhookState,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    ...(row.delivered_at === null ? {} : { deliveredAt: Number(row.delivered_at) }),
    ...(row.last_error === null ? {} : { lastError: row.last_error }),
  };
}

/** A page of events: the rows read (one more than `limit` says there is a next page) and its cursor. */
export function eventPage(rows: EventRow[], limit: number): { events: StoredEvent[]; cursor?: string } {
  const events = rows.slice(0, limit).map(storedEventOf);
  const last = events.at(-1);
  return rows.length > limit && last ? { events, cursor: encodeCursor({ g: last.gateway, e: last.eventId }) } : { events };
}

/** The (gateway, event id) a page goes on after ("" "" from the start). */
export function afterCursor(cursor: string | undefined): [string, string] {
  if (cursor === undefined) return ["", ""];
  const { g, e } = decodeCursor<{ g: string; e: string }>(cursor, (v) => typeof v.g === "string" && typeof v.e === "string");
  return [g, e];
}

export const REDELIVER_SET = "state = 'pending', next_attempt_at = ?, lease_owner = NULL, lease_until = NULL";

/** Not while a replica holds the event's lease: its attempt's outcome would be lost, and the service could get it twice at once. */
export const NOT_LEASED = "(lease_until IS NULL OR lease_until <= ?)";

/**
 * A settlement's new values, in SETTLE_COLUMNS' order: the attempt counted, the lease given
 * back, and the state, next try, delivery time and error the outcome says.
 */
export const SETTLE_SET =
  "state = ?, next_attempt_at = COALESCE(?, next_attempt_at), delivered_at = ?, last_error = ?, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL";

export function settleValues(outcome: DeliveryOutcome): unknown[] {
  switch (outcome.state) {
    case "delivered":
      return ["delivered", null, outcome.at, null];
    case "pending":
      return ["pending", outcome.nextAttemptAt, null, outcome.error.slice(0, 500)];
    case "dead":
      return ["dead", null, null, outcome.error.slice(0, 500)];
  }
}

/** The payments an event names: each record's last ledger row, for the new row to carry its request. */
export interface NamedPayment {
  record: string;
  route: string;
  method: string;
  path: string;
}

/** What an event unmatched at receipt keeps (the `settles` column), to be matched again. */
export function settlesJson(settlement: EventSettlement): string {
  return JSON.stringify({ outcome: settlement.outcome, links: settlement.links, requestIds: settlement.requestIds, replica: settlement.replica });
}

export function settlesOf(json: string): EventSettlement {
  return JSON.parse(json) as EventSettlement;
}

/** An unmatched event as the matcher reads it. */
export interface UnmatchedRow {
  gateway: string;
  event_id: string;
  received_at: number | string;
  match_until: number | string;
  settles: string;
}

/** A waiting event as the ledger row it appends names it, and what it says. */
export function unmatchedOf(row: UnmatchedRow): { event: Pick<InboundEvent, "gateway" | "eventId" | "receivedAt">; settlement: EventSettlement } {
  return { event: { gateway: row.gateway, eventId: row.event_id, receivedAt: Number(row.received_at) }, settlement: settlesOf(row.settles) };
}

/** Where a pass over `rows` (as many as its limit asked for, or fewer at the end) lets the next one go on. */
export function nextCursor(rows: readonly UnmatchedRow[], limit: number): MatchCursor | undefined {
  const last = rows.at(-1);
  return rows.length === limit && last ? [Number(last.match_until), last.gateway, last.event_id] : undefined;
}

/** The `settled-by-event` row an event appends to a payment it names (`at`: when; its receipt unless matched later). */
export function settledRow(
  event: Pick<InboundEvent, "gateway" | "eventId" | "receivedAt">,
  payment: NamedPayment,
  settlement: EventSettlement,
  at = event.receivedAt,
): LedgerEntry {
  return {
    record: payment.record,
    gateway: event.gateway,
    route: payment.route,
    method: payment.method,
    path: payment.path,
    state: "settled-by-event",
    startedAt: event.receivedAt,
    settledAt: at,
    replica: settlement.replica,
    eventId: event.eventId,
    outcome: settlement.outcome,
  };
}
