/**
 * Records as they lie in Redis: keyv's envelope around a JSON record, the response body as
 * base64, or the whole response sealed when encryption is on.
 */
import type { Cipher } from "../crypto.js";
import { type FinalRecord, type IdempotencyRecord, type InFlightRecord, type StoredResponse, StoreError } from "../types.js";

/** What keyv stores: its envelope around our record. */
export interface Envelope {
  value: WireRecord;
  expires?: number | null;
}

export type WireRecord =
  | InFlightRecord
  | { state: "completed"; fingerprint: string; createdAt: number; completedAt: number; attempts?: number; response?: WireResponse; sealed?: string }
  | { state: "indeterminate"; fingerprint: string; createdAt: number; completedAt: number; reason: string; attempts?: number };

interface WireResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/** A final record as keyv's envelope, in JSON. */
export function envelopeOf(key: string, record: FinalRecord, cipher: Cipher | undefined): string {
  return JSON.stringify({ value: encodeFinal(key, record, cipher) } satisfies Envelope);
}

function encodeFinal(key: string, record: FinalRecord, cipher: Cipher | undefined): WireRecord {
  if (record.state === "indeterminate") return record;
  const response: WireResponse = { status: record.response.status, headers: record.response.headers, body: record.response.body.toString("base64") };
  const { fingerprint, createdAt, completedAt } = record;
  const kept = { state: "completed" as const, fingerprint, createdAt, completedAt, ...(record.attempts === undefined ? {} : { attempts: record.attempts }) };
  if (!cipher) return { ...kept, response };
  return { ...kept, sealed: cipher.encrypt(Buffer.from(JSON.stringify(response)), key).toString("base64") };
}

export function decodeRecord(key: string, wire: WireRecord, cipher: Cipher | undefined): IdempotencyRecord {
  if (wire.state !== "completed") return wire;
  let response: WireResponse | undefined = wire.response;
  if (wire.sealed !== undefined) {
    if (!cipher) throw new StoreError("store_unavailable", "a stored record is encrypted but no store.encryption.key is configured");
    response = JSON.parse(cipher.decrypt(Buffer.from(wire.sealed, "base64"), key).toString("utf8")) as WireResponse;
  }
  if (!response) throw new StoreError("store_unavailable", "a stored record has no response");
  const stored: StoredResponse = { status: response.status, headers: response.headers, body: Buffer.from(response.body, "base64") };
  const attempts = wire.attempts === undefined ? {} : { attempts: wire.attempts };
  return { state: "completed", fingerprint: wire.fingerprint, createdAt: wire.createdAt, completedAt: wire.completedAt, ...attempts, response: stored };
}

export function parseEnvelope(key: string, text: string, cipher: Cipher | undefined): IdempotencyRecord {
  return decodeRecord(key, (JSON.parse(text) as Envelope).value, cipher);
}

/** The state of a record, read from its JSON without opening it. */
export function stateOf(text: string): IdempotencyRecord["state"] {
  return (JSON.parse(text) as Envelope).value.state;
}
