/**
 * The gateway's answer as an idempotency record keeps it: the body read whole (up to
 * maxResponseSize), the headers that describe the answer rather than its delivery, the
 * gateway's request id, and the fields the outcome ledger keeps. Used for a first answer
 * (pipeline/idempotency.ts) and for a background re-send's (pipeline/completion.ts).
 */
import type { Readable } from "node:stream";
import { gatewayRequestId, type RequestIdRule } from "../gateways/request-id.js";
import { type Fields, pickFields } from "../idempotency/fields.js";
import type { StoredResponse } from "../store/types.js";
import type { Reply } from "./context.js";

/** Response headers that describe this delivery, not the answer: never stored. */
const NOT_STORED = new Set(["date", "content-length", "transfer-encoding", "age"]);

/** The body, whole; or, past `max` bytes, the chunks read so far (the rest is still in `source`). */
export type Buffered = { whole: true; body: Buffer } | { whole: false; head: Buffer[] };

/** Reads `source` up to `max` bytes. Throws when the body breaks off. Stops early without destroying `source`. */
export async function bufferBody(source: Readable, max: number): Promise<Buffered> {
  const chunks: Buffer[] = [];
  let size = 0;
  // destroyOnReturn: false — leaving the loop early (too large) must not destroy a body the
  // caller may go on streaming.
  for await (const chunk of source.iterator({ destroyOnReturn: false })) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > max) return { whole: false, head: chunks };
  }
  return { whole: true, body: Buffer.concat(chunks, size) };
}

export interface AnswerFacts {
  requestIdRule: RequestIdRule;
  /** the ledger's JSON pointers; undefined when the store keeps no ledger */
  ledgerFields: readonly string[] | undefined;
}

/** What the record and the ledger keep of an answer. */
export interface KeptAnswer {
  response: StoredResponse;
  gatewayRequestId?: string;
  fields?: Fields;
}

export function keptAnswer(reply: { status: number; headers: Reply["headers"] }, body: Buffer, facts: AnswerFacts): KeptAnswer {
  const gatewayId = gatewayRequestId(facts.requestIdRule, reply.headers, body);
  const fields = facts.ledgerFields ? pickFields(body, headerValue(reply.headers["content-type"]), facts.ledgerFields) : undefined;
  return {
    response: { status: reply.status, headers: storableHeaders(reply.headers), body },
    ...(gatewayId ? { gatewayRequestId: gatewayId } : {}),
    ...(fields ? { fields } : {}),
  };
}

function storableHeaders(headers: Reply["headers"]): StoredResponse["headers"] {
  const out: StoredResponse["headers"] = Object.create(null); // a header may be named __proto__
  for (const [name, value] of Object.entries(headers)) if (!NOT_STORED.has(name)) out[name] = value;
  return out;
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}
