/**
 * A record as a row of the `records` table, the same for SQLite and PostgreSQL: one column per
 * field, the response as status, headers (JSON text) and body bytes. Pure.
 */
import type { FinalRecord, IdempotencyRecord, InFlightRecord, RecordAbout } from "../types.js";

/** What a driver hands back for a row (SQLite numbers, PostgreSQL int8 strings, Buffers). */
export interface RecordRow {
  key: string;
  state: string;
  token: string | null;
  fingerprint: string;
  created_at: number | string;
  completed_at: number | string | null;
  lease_until: number | string | null;
  expires_at: number | string;
  attempts: number | null;
  reason: string | null;
  status: number | null;
  headers: string | null;
  body: Buffer | Uint8Array | null;
  /** RecordAbout as JSON text; null on rows written before it was kept */
  about: string | null;
}

/** The columns written for a record, in the order RECORD_COLUMNS names them. */
export type RecordValues = [
  state: string,
  token: string | null,
  fingerprint: string,
  createdAt: number,
  completedAt: number | null,
  leaseUntil: number | null,
  expiresAt: number,
  attempts: number | null,
  reason: string | null,
  status: number | null,
  headers: string | null,
  body: Buffer | null,
  about: string | null,
];

export const RECORD_COLUMNS = [
  "state",
  "token",
  "fingerprint",
  "created_at",
  "completed_at",
  "lease_until",
  "expires_at",
  "attempts",
  "reason",
  "status",
  "headers",
  "body",
  "about",
] as const;

/** The columns a record sets besides its state, fingerprint, creation and request (null when absent). */
interface Columns {
  token?: string | undefined;
  completedAt?: number | undefined;
  leaseUntil?: number | undefined;
  expiresAt: number;
  attempts?: number | undefined;
  reason?: string | undefined;
  status?: number | undefined;
  headers?: string | undefined;
  body?: Buffer | undefined;
}

function valuesOf(record: IdempotencyRecord, c: Columns): RecordValues {
  const or = <T>(value: T | undefined) => value ?? null;
  const { fingerprint, createdAt } = record;
  return [
    record.state,
    or(c.token),
    fingerprint,
    createdAt,
    or(c.completedAt),
    or(c.leaseUntil),
    c.expiresAt,
    or(c.attempts),
    or(c.reason),
    or(c.status),
    or(c.headers),
    or(c.body),
    aboutText(record.about),
  ];
}

export function inFlightValues(record: InFlightRecord): RecordValues {
  return valuesOf(record, { token: record.token, leaseUntil: record.leaseUntil, expiresAt: record.expiresAt });
}

export function finalValues(record: FinalRecord, expiresAt: number): RecordValues {
  const settled = { completedAt: record.completedAt, expiresAt, attempts: record.attempts };
  if (record.state === "indeterminate") return valuesOf(record, { ...settled, reason: storable(record.reason) });
  const { status, headers, body } = record.response;
  return valuesOf(record, { ...settled, status, headers: JSON.stringify(headers), body });
}

/** The request a record is about, as JSON text every database takes (the key and path are the client's). */
export function aboutText(about: RecordAbout | undefined): string | null {
  return about === undefined ? null : storable(JSON.stringify(about));
}

/** A UTF-16 surrogate without its other half: no character at all. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Text every database takes, whatever the gateway or an error put in it: a NUL (PostgreSQL's
 * text and jsonb refuse it) and a lone surrogate (jsonb refuses its escape; the drivers' UTF-8
 * would make it U+FFFD anyway) become U+FFFD. A value the database refuses fails the write it
 * is part of, and the answer that goes with it.
 */
export function storable(text: string): string {
  return text.replaceAll("\0", "\ufffd").replace(LONE_SURROGATE, "\ufffd");
}

export function recordOf(row: RecordRow): IdempotencyRecord {
  const about = row.about === null || row.about === undefined ? {} : { about: JSON.parse(row.about) as RecordAbout };
  const base = { fingerprint: row.fingerprint, createdAt: Number(row.created_at), ...about };
  const attempts = row.attempts === null ? {} : { attempts: Number(row.attempts) };
  if (row.state === "in-flight") {
    return { state: "in-flight", token: row.token ?? "", ...base, leaseUntil: Number(row.lease_until), expiresAt: Number(row.expires_at) };
  }
  const completedAt = Number(row.completed_at);
  if (row.state === "indeterminate") return { state: "indeterminate", ...base, completedAt, reason: row.reason ?? "", ...attempts };
  const headers = JSON.parse(row.headers ?? "{}") as Record<string, string | string[]>;
  const body = row.body === null ? Buffer.alloc(0) : Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength);
  return { state: "completed", ...base, completedAt, ...attempts, response: { status: Number(row.status), headers: prototypeFree(headers), body } };
}

/** Headers in a prototype-less object: a header named `__proto__` stays a header. */
function prototypeFree(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of Object.entries(headers)) out[name] = value;
  return out;
}
