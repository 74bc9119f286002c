/**
 * Records as they lie in Redis: keyv's envelope around a JSON record, the response body as
 * base64. (Encryption at rest is the sealing decorator's: a sealed response is one more
 * response here.)
 */
import type { FinalRecord, IdempotencyRecord, InFlightRecord, RecordAbout, StoredResponse } from "../types.js";

/** What keyv stores: its envelope around our record. */
export interface Envelope {
  value: WireRecord;
  expires?: number | null;
}

export type WireRecord =
  | InFlightRecord
  | { state: "completed"; fingerprint: string; createdAt: number; completedAt: number; attempts?: number; response: WireResponse; about?: RecordAbout }
  | { state: "indeterminate"; fingerprint: string; createdAt: number; completedAt: number; reason: string; attempts?: number; about?: RecordAbout };

interface WireResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/** A final record as keyv's envelope, in JSON. */
export function envelopeOf(record: FinalRecord): string {
  const value: WireRecord =
    record.state === "indeterminate" ? record : { ...record, response: { ...record.response, body: record.response.body.toString("base64") } };
  return JSON.stringify({ value } satisfies Envelope);
}

export function decodeRecord(wire: WireRecord): IdempotencyRecord {
  if (wire.state !== "completed") return wire;
  const response: StoredResponse = { ...wire.response, body: Buffer.from(wire.response.body, "base64") };
  return { ...wire, response };
}

export function parseEnvelope(text: string): IdempotencyRecord {
  return decodeRecord((JSON.parse(text) as Envelope).value);
}

/** The state of a record, read from its JSON. */
export function stateOf(text: string): IdempotencyRecord["state"] {
  return (JSON.parse(text) as Envelope).value.state;
}
