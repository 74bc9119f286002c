/**
 * The response fields the outcome ledger keeps (idempotency.ledger.fields): scalars picked
 * from a JSON answer by pointer. A field that is missing, or an object or array, is left out;
 * a long string is cut. Pure.
 */
import { isJson, UTF8 } from "./fingerprint.js";
import { valueAt } from "./pointer.js";

const MAX_STRING = 256;

export type Fields = Record<string, string | number | boolean | null>;

export function pickFields(body: Buffer, contentType: string | undefined, pointers: readonly string[]): Fields | undefined {
  if (pointers.length === 0 || body.length === 0 || !isJson(contentType)) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(UTF8.decode(body));
  } catch {
    return undefined;
  }
  const fields: Fields = {};
  for (const pointer of pointers) {
    const value = valueAt(document, pointer);
    if (typeof value === "string") fields[pointer] = value.length > MAX_STRING ? value.slice(0, MAX_STRING) : value;
    else if (typeof value === "number" || typeof value === "boolean" || value === null) fields[pointer] = value;
  }
  return Object.keys(fields).length > 0 ? fields : undefined;
}
