/**
 * The response fields the outcome ledger keeps (idempotency.ledger.fields): scalars picked
 * from a JSON answer by pointer. A field that is missing, or an object or array, is left out;
 * a long string is cut to MAX_CODE_POINTS code points. Pure.
 */
import { isJson, UTF8 } from "./fingerprint.js";
import { valueAt } from "./pointer.js";

const MAX_CODE_POINTS = 256;

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
    if (typeof value === "string") fields[pointer] = cut(value);
    else if (typeof value === "number" || typeof value === "boolean" || value === null) fields[pointer] = value;
  }
  return Object.keys(fields).length > 0 ? fields : undefined;
}

/** The first MAX_CODE_POINTS code points: a cut in UTF-16 units could split a surrogate pair. */
function cut(value: string): string {
  if (value.length <= MAX_CODE_POINTS) return value;
  let units = 0;
  let points = 0;
  for (const char of value) {
    if (points === MAX_CODE_POINTS) return value.slice(0, units);
    units += char.length;
    points++;
  }
  return value;
}
