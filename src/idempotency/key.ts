/**
 * The client's Idempotency-Key: parsing, validation, and the scoped lookup key. Pure.
 * draft-ietf-httpapi-idempotency-key-header: the value is a Structured Field string
 * (`"8e03…"`); SDKs in the field also send a bare token, so both are accepted.
 */
import { createHash } from "node:crypto";

const VISIBLE_ASCII = /^[\x21-\x7e]{1,255}$/;

export type KeyParse = { ok: true; key: string } | { ok: false; reason: string };

/** The key inside an sf-string or a bare value; rejects anything not 1–255 visible ASCII. */
export function parseIdempotencyKey(raw: string): KeyParse {
  // Only optional whitespace (SP, HTAB) is trimmed: String#trim would also eat U+00A0 (a
  // latin1 0xA0 byte in a header), making "\xa0k" and "k" the same key.
  let key = raw.replace(/^[ \t]+|[ \t]+$/g, "");
  if (key.startsWith('"')) {
    const unquoted = unquoteSfString(key);
    if (unquoted === undefined) return { ok: false, reason: "malformed quoted string" };
    key = unquoted;
  }
  if (!VISIBLE_ASCII.test(key)) return { ok: false, reason: "must be 1-255 visible ASCII characters" };
  return { ok: true, key };
}

/** RFC 8941 §3.3.3 sf-string: `"…"` whose only escapes are backslash-quote and backslash-backslash. */
function unquoteSfString(text: string): string | undefined {
  let out = "";
  for (let i = 1; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "\\") {
      const next = text[++i];
      if (next !== '"' && next !== "\\") return undefined;
      out += next;
    } else if (ch === '"') {
      return i === text.length - 1 ? out : undefined;
    } else {
      out += ch;
    }
  }
  return undefined;
}

export interface ScopeInput {
  /** values of the configured scope headers, in config order (undefined when absent) */
  scopeValues: readonly (string | undefined)[];
  method: string;
  /** request path without the query */
  path: string;
  key: string;
}

/**
 * The store key: a hash of (tenant scope, method, path, client key), so two tenants using
 * the same key never meet, and no raw secret (an Authorization value) is ever stored.
 */
export function scopedKey(input: ScopeInput): string {
  const hash = createHash("sha256");
  for (const value of input.scopeValues) hash.update(value === undefined ? "\x00absent" : `\x01${value}`).update("\x1f");
  hash.update(input.method).update("\x1f").update(input.path).update("\x1f").update(input.key);
  return hash.digest("base64url");
}
