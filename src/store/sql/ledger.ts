/**
 * The outcome ledger as rows of the `ledger` table, the same for SQLite and PostgreSQL:
 * append-only, one row per settlement, written in the transaction that changes the record.
 * Times are epoch milliseconds. Pure.
 */
import type { EventOutcome, LedgerEntry, LedgerState } from "../types.js";
import { storable } from "./rows.js";

export const LEDGER_COLUMNS = [
  "record",
  "route",
  "method",
  "path",
  "state",
  "status",
  "attempts",
  "gateway_request_id",
  "fields",
  "started_at",
  "settled_at",
  "replica",
  "gateway",
  "link",
  "event_id",
  "outcome",
  "idempotency_key",
  "reason",
  "decision",
  "operator",
] as const;

/** PostgreSQL's type of each of LEDGER_COLUMNS, in order. */
export const LEDGER_PG_TYPES = [
  "text",
  "text",
  "text",
  "text",
  "text",
  "integer",
  "integer",
  "text",
  "jsonb",
  "bigint",
  "bigint",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
];

export interface LedgerRow {
  id: number | string;
  record: string;
  route: string;
  method: string;
  path: string;
  state: string;
  status: number | null;
  attempts: number | null;
  gateway_request_id: string | null;
  fields: string | Record<string, unknown> | null;
  started_at: number | string;
  settled_at: number | string;
  replica: string;
  gateway: string | null;
  link: string | null;
  event_id: string | null;
  outcome: string | null;
  idempotency_key: string | null;
  reason: string | null;
  decision: string | null;
  operator: string | null;
}

/** An entry's values in LEDGER_COLUMNS' order, every text storable (rows.ts, `storable`): a body field or request id is the gateway's. */
export function ledgerValues(entry: LedgerEntry): unknown[] {
  return [
    storable(entry.record),
    storable(entry.route),
    storable(entry.method),
    storable(entry.path),
    entry.state,
    entry.status ?? null,
    entry.attempts ?? null,
    entry.gatewayRequestId === undefined ? null : storable(entry.gatewayRequestId),
    entry.fields === undefined ? null : JSON.stringify(storableFields(entry.fields)),
    entry.startedAt,
    entry.settledAt,
    storable(entry.replica),
    entry.gateway === undefined ? null : storable(entry.gateway),
    entry.link === undefined ? null : storable(entry.link),
    entry.eventId === undefined ? null : storable(entry.eventId),
    entry.outcome ?? null,
    entry.key === undefined ? null : storable(entry.key),
    entry.reason === undefined ? null : storable(entry.reason),
    entry.decision ?? null,
    entry.operator === undefined ? null : storable(entry.operator),
  ];
}

function storableFields(fields: NonNullable<LedgerEntry["fields"]>): NonNullable<LedgerEntry["fields"]> {
  return Object.fromEntries(Object.entries(fields).map(([pointer, value]) => [storable(pointer), typeof value === "string" ? storable(value) : value]));
}

/** The request an operator's entry is about (it names only the record): the record's last row's. */
export const LAST_REQUEST = (ledger: string, param: string) =>
  `SELECT gateway, route, method, path, idempotency_key, link, gateway_request_id FROM ${ledger} WHERE record = ${param} ORDER BY id DESC LIMIT 1`;

/** The columns LAST_REQUEST reads. */
export type LastRequest = Pick<LedgerRow, "gateway" | "route" | "method" | "path" | "idempotency_key" | "link" | "gateway_request_id">;

/**
 * An operator's entry names what the record keeps (all of its request, or, for a record written
 * before records kept it, nothing: route ""); what it lacks is the record's last row's.
 */
export function withRequestOf(entry: LedgerEntry, last: LastRequest | undefined): LedgerEntry {
  if (!last) return entry;
  const kept = (value: string | null) => (value === null ? undefined : value);
  const request = entry.route === "" ? { route: last.route, method: last.method, path: last.path } : {};
  return {
    ...entry,
    ...request,
    ...defined({
      gateway: entry.gateway ?? kept(last.gateway),
      key: entry.key ?? kept(last.idempotency_key),
      link: entry.link ?? kept(last.link),
      gatewayRequestId: entry.gatewayRequestId ?? kept(last.gateway_request_id),
    }),
  };
}

function defined<T extends Record<string, string | undefined>>(values: T): Partial<Record<keyof T, string>> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<Record<keyof T, string>>;
}

export function ledgerEntryOf(row: LedgerRow): LedgerEntry & { id: number } {
  const fields = typeof row.fields === "string" ? (JSON.parse(row.fields) as LedgerEntry["fields"]) : (row.fields as LedgerEntry["fields"] | null);
  return {
    id: Number(row.id),
    record: row.record,
    ...(row.gateway === null ? {} : { gateway: row.gateway }),
    route: row.route,
    method: row.method,
    path: row.path,
    state: row.state as LedgerState,
    ...(row.status === null ? {} : { status: Number(row.status) }),
    ...(row.attempts === null ? {} : { attempts: Number(row.attempts) }),
    ...(row.gateway_request_id === null ? {} : { gatewayRequestId: row.gateway_request_id }),
    ...(fields ? { fields } : {}),
    startedAt: Number(row.started_at),
    settledAt: Number(row.settled_at),
    replica: row.replica,
    ...(row.link === null ? {} : { link: row.link }),
    ...(row.event_id === null ? {} : { eventId: row.event_id }),
    ...(row.outcome === null ? {} : { outcome: row.outcome as EventOutcome }),
    ...(row.idempotency_key === null ? {} : { key: row.idempotency_key }),
    ...(row.reason === null ? {} : { reason: row.reason }),
    ...(row.decision === null ? {} : { decision: row.decision as NonNullable<LedgerEntry["decision"]> }),
    ...(row.operator === null ? {} : { operator: row.operator }),
  };
}
