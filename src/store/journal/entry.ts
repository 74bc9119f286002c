/**
 * A journal entry and its text form: one JSON object, the response body in base64. The same
 * text is a row of the journal table and, behind a checksum, a line of the old journal file
 * (legacy.ts). Pure: no I/O.
 */
import type { FinalRecord, LedgerEntry, RecordAbout, StoredResponse } from "../types.js";

/** One journalled outcome: the record to store under `key`, kept for `ttlMs` from `writtenAt`. */
export interface JournalEntry {
  key: string;
  /** as the layer above gave it: sealed when encryption is on (sealing.ts) */
  record: FinalRecord;
  ttlMs: number;
  /** epoch ms */
  writtenAt: number;
  /** the settlement's ledger row, appended when the record is written back */
  ledger?: LedgerEntry;
}

interface SerializedEntry {
  key: string;
  ttlMs: number;
  writtenAt: number;
  record: Omit<FinalRecord, "response"> & { response?: Omit<StoredResponse, "body"> & { body: string } };
  ledger?: LedgerEntry;
}

/** The entry as JSON text. */
export function encodeEntry(entry: JournalEntry): string {
  const { record } = entry;
  const serialized: SerializedEntry = {
    key: entry.key,
    ttlMs: entry.ttlMs,
    writtenAt: entry.writtenAt,
    record: record.state === "completed" ? { ...record, response: { ...record.response, body: record.response.body.toString("base64") } } : record,
    ...(entry.ledger ? { ledger: entry.ledger } : {}),
  };
  return JSON.stringify(serialized);
}

/** The entry the JSON text holds, or why it holds none. */
export function decodeEntry(json: string): JournalEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return "invalid JSON";
  }
  return toEntry(value) ?? "not a journal entry";
}

/** epoch ms after which the entry is dropped unreplayed */
export function expiresAt(entry: JournalEntry): number {
  return entry.writtenAt + entry.ttlMs;
}

export function isExpired(entry: JournalEntry, now: number): boolean {
  return expiresAt(entry) < now;
}

function toEntry(value: unknown): JournalEntry | undefined {
  if (!isObject(value) || typeof value.key !== "string" || !isNumber(value.ttlMs) || !isNumber(value.writtenAt)) return undefined;
  const record = toRecord(value.record);
  if (record === undefined) return undefined;
  // A ledger row rides along as written (it is payguard's own).
  const ledger = isObject(value.ledger) && typeof value.ledger.record === "string" ? { ledger: value.ledger as unknown as LedgerEntry } : {};
  return { key: value.key, ttlMs: value.ttlMs, writtenAt: value.writtenAt, record, ...ledger };
}

function toRecord(record: unknown): FinalRecord | undefined {
  if (!isObject(record) || typeof record.fingerprint !== "string" || !isNumber(record.createdAt) || !isNumber(record.completedAt)) return undefined;
  // Optional: entries written before attempts were recorded have none.
  const base = {
    fingerprint: record.fingerprint,
    createdAt: record.createdAt,
    completedAt: record.completedAt,
    ...(isNumber(record.attempts) ? { attempts: record.attempts } : {}),
    // Optional too: entries written before records kept their request have none.
    ...(isObject(record.about) && typeof record.about.key === "string" ? { about: record.about as unknown as RecordAbout } : {}),
  };
  if (record.state === "indeterminate" && typeof record.reason === "string") return { state: "indeterminate", ...base, reason: record.reason };
  const response = record.response;
  if (record.state !== "completed" || !isObject(response) || !isNumber(response.status) || !isObject(response.headers) || typeof response.body !== "string") {
    return undefined;
  }
  return {
    state: "completed",
    ...base,
    response: { status: response.status, headers: response.headers as StoredResponse["headers"], body: Buffer.from(response.body, "base64") },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}
