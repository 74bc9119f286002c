/**
 * The client's Idempotency-Key: parsing, validation, and the scoped lookup key. Pure.
 * draft-ietf-httpapi-idempotency-key-header: the value is a Structured Field string
 * (`"8e03…"`); SDKs in the field also send a bare token, so both are accepted.
 */
import { createHash } from "node:crypto";
import { hasDuplicateNames, isJson, UTF8 } from "./fingerprint.js";
import { valueAt } from "./pointer.js";

const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

export type KeyParse = { ok: true; key: string } | { ok: false; reason: string };

/**
 * The key inside an sf-string or a bare value; rejects anything but 1–`maxLength` visible
 * ASCII characters (the gateway's own limit: idempotency.maxKeyLength).
 */
export function parseIdempotencyKey(raw: string, maxLength = 255): KeyParse {
  // Only optional whitespace (SP, HTAB) is trimmed: String#trim would also eat U+00A0 (a
  // latin1 0xA0 byte in a header), making "\xa0k" and "k" the same key.
  let key = raw.replace(/^[ \t]+|[ \t]+$/g, "");
  if (key.startsWith('"')) {
    const unquoted = unquoteSfString(key);
    if (unquoted === undefined) return { ok: false, reason: "malformed quoted string" };
    key = unquoted;
  }
  return validKey(key, maxLength);
}

/** The same limits for a key however it came: 1–maxLength visible ASCII characters. */
function validKey(key: string, maxLength: number): KeyParse {
  if (!VISIBLE_ASCII.test(key) || key.length > maxLength) return { ok: false, reason: `must be 1-${maxLength} visible ASCII characters` };
  return { ok: true, key };
}

/** Where a request's key is, by idempotency.header and idempotency.bodyField. */
export interface KeySources {
  /** the key header's value(s), as sent */
  header: string | string[] | undefined;
  contentType: string | undefined;
  body: Buffer | undefined;
  /** JSON pointer to the body field, or false */
  bodyField: string | false;
  maxLength: number;
  /**
   * which one is the key when both are there: "body" when the gateway dedupes on the body
   * field (upstreamKey: body) — then a header that names another key is refused
   */
  prefer: "header" | "body";
}

export type FoundKey =
  | { found: false }
  | { found: true; from: "header" | "body"; parse: KeyParse /** the header as sent, to echo on a replay */; echo?: string };

/**
 * The client's key: the header or the body field, whichever `prefer` names, else the other.
 * A body key is taken verbatim — it is the very string the gateway dedupes on, so no trimming
 * or unquoting — within the same limits as a header. A body that names a member twice is
 * refused: JSON.parse keeps the last value, a gateway may read the first.
 */
export function findKey(sources: KeySources): FoundKey {
  const header = headerKey(sources);
  if (sources.prefer === "header" && header.found) return header;
  const body = bodyKey(sources);
  if (!body.found) return header;
  if (header.found && header.parse.ok && body.parse.ok && header.parse.key !== body.parse.key) {
    return { found: true, from: "body", parse: { ok: false, reason: `the key header and the body field ${sources.bodyField} name different keys` } };
  }
  return body;
}

function headerKey(sources: KeySources): FoundKey {
  if (sources.header === undefined) return { found: false };
  const echo = Array.isArray(sources.header) ? sources.header.join(", ") : sources.header;
  return { found: true, from: "header", parse: parseIdempotencyKey(echo, sources.maxLength), echo };
}

function bodyKey(sources: KeySources): FoundKey {
  if (sources.bodyField === false || !sources.body || sources.body.length === 0 || !isJson(sources.contentType)) return { found: false };
  let text: string;
  let document: unknown;
  try {
    text = UTF8.decode(sources.body);
    document = JSON.parse(text);
  } catch {
    return { found: false };
  }
  const value = valueAt(document, sources.bodyField);
  if (value === undefined) return { found: false };
  const invalid = (reason: string): FoundKey => ({ found: true, from: "body", parse: { ok: false, reason } });
  if (typeof value !== "string") return invalid(`the body field ${sources.bodyField} must be a string`);
  if (hasDuplicateNames(text, document)) return invalid("the body repeats a member name: which key the gateway reads is ambiguous");
  return { found: true, from: "body", parse: validKey(value, sources.maxLength) };
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

/**
 * Whether a scope header's value names no tenant: absent, empty, or only whitespace and
 * commas. Commas because a field repeated on several lines arrives joined by ", " (RFC 9110
 * §5.3), and a list of empty members is empty (§5.6.1). Without this, every application
 * whose `Payguard-Account: ${UNSET}` expands to nothing would share one scope — and get each
 * other's stored charges as replays.
 */
export function isScopeMissing(value: string | undefined): boolean {
  return value === undefined || /^[ \t,]*$/.test(value);
}

/** The scope headers that name no tenant (see isScopeMissing), in config order. */
export function missingScope(names: readonly string[], values: readonly (string | undefined)[]): string[] {
  return names.filter((_name, i) => isScopeMissing(values[i]));
}

export interface ScopeInput {
  /** a named gateway's name; undefined for the one-gateway shorthand */
  gateway?: string | undefined;
  /** values of the configured scope headers, in config order (undefined when absent) */
  scopeValues: readonly (string | undefined)[];
  method: string;
  /** request path without the query */
  path: string;
  key: string;
}

/**
 * The store key: a hash of (gateway, tenant scope, method, path, client key), so two
 * gateways or two tenants using the same key never meet, and no raw secret (an Authorization value) is ever stored.
 */
export function scopedKey(input: ScopeInput): string {
  const hash = createHash("sha256");
  // A named gateway's records are its own; the one-gateway shorthand's keys stay as they were.
  if (input.gateway !== undefined) hash.update(`\x02${input.gateway}`).update("\x1f");
  for (const value of input.scopeValues) hash.update(value === undefined ? "\x00absent" : `\x01${value}`).update("\x1f");
  hash.update(input.method).update("\x1f").update(input.path).update("\x1f").update(input.key);
  return hash.digest("base64url");
}
