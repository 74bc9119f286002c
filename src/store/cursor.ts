/**
 * Listing cursors: opaque to API clients (base64url of a small JSON object), checked on the
 * way back in so a mangled or foreign cursor is a clean 400, never a crash.
 */
import { InvalidCursorError } from "./types.js";

export function encodeCursor(position: object): string {
  return Buffer.from(JSON.stringify(position)).toString("base64url");
}

/** The position inside `cursor`, if `valid` accepts it; InvalidCursorError otherwise. */
export function decodeCursor<T>(cursor: string, valid: (value: Record<string, unknown>) => boolean): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || !valid(value as Record<string, unknown>)) throw new InvalidCursorError();
  return value as T;
}

/** Entries after `after` in key order, at most `limit`, and the cursor key if more remain. */
export function pageByKey<E extends { key: string }>(entries: E[], after: string | undefined, limit: number): { page: E[]; last: string | undefined } {
  const sorted = entries.filter((e) => after === undefined || e.key > after).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const page = sorted.slice(0, limit);
  return { page, last: sorted.length > limit ? page.at(-1)?.key : undefined };
}
