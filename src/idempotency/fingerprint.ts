/**
 * The request fingerprint: what must be equal for a repeat to count as the same request.
 * Method + path + query + body digest (+ configured headers). With `canonical-json`, JSON
 * bodies up to `canonicalMaxBytes` are compared by value — key order and whitespace do not
 * matter — and the configured JSON pointers are left out; anything else is hashed as bytes.
 * Pure; {@link fingerprintOffLoop} gives the same value with a large body hashed off the
 * event loop.
 */
import { createHash, webcrypto } from "node:crypto";
import { parsePointer } from "./pointer.js";

export interface FingerprintOptions {
  body: "canonical-json" | "bytes";
  /** a JSON body larger than this is hashed as bytes (canonicalising would stall the event loop) */
  canonicalMaxBytes: number;
  ignoreFields: readonly string[];
  /** values of the configured fingerprint headers, in config order */
  headerValues: readonly (string | undefined)[];
}

export interface FingerprintInput {
  method: string;
  /** path and query as sent */
  target: string;
  contentType: string | undefined;
  body: Buffer | undefined;
}

/** Nesting deeper than this is hashed as bytes rather than canonicalised (no stack risk). */
export const MAX_JSON_DEPTH = 64;

/**
 * A body hashed as bytes that is larger than this is hashed on libuv's thread pool by
 * {@link fingerprintOffLoop}: SHA-256 takes ~1–2 ms per MiB, which would hold every other
 * request on the event loop meanwhile (docs/performance.md#body-size).
 */
export const OFF_LOOP_BYTES = 64 * 1024;

export function fingerprint(input: FingerprintInput, options: FingerprintOptions): string {
  return withBodyDigest(input, options, bodyDigest(input, options));
}

/**
 * The same value as {@link fingerprint}; a body over {@link OFF_LOOP_BYTES} that is hashed as
 * bytes is hashed by WebCrypto's digest, which runs on libuv's thread pool.
 */
export async function fingerprintOffLoop(input: FingerprintInput, options: FingerprintOptions): Promise<string> {
  const body = input.body;
  if (!body || body.length <= OFF_LOOP_BYTES || canonicalises(body, input, options)) return fingerprint(input, options);
  const digest = Buffer.from(await webcrypto.subtle.digest("SHA-256", body)).toString("base64url");
  return withBodyDigest(input, options, `bytes:${digest}`);
}

function withBodyDigest(input: FingerprintInput, options: FingerprintOptions, bodyDigest: string): string {
  const hash = createHash("sha256");
  hash.update(input.method).update("\n").update(input.target).update("\n");
  for (const value of options.headerValues) hash.update(value === undefined ? "\x00" : `\x01${value}`).update("\n");
  hash.update(bodyDigest);
  return hash.digest("base64url");
}

/** Whether the body is a candidate for comparison by value (it still falls back to bytes if it is not acceptable JSON). */
function canonicalises(body: Buffer, input: FingerprintInput, options: FingerprintOptions): boolean {
  return options.body === "canonical-json" && body.length > 0 && body.length <= options.canonicalMaxBytes && isJson(input.contentType);
}

function bodyDigest(input: FingerprintInput, options: FingerprintOptions): string {
  const body = input.body ?? Buffer.alloc(0);
  if (canonicalises(body, input, options)) {
    const canonical = canonicalJson(body, options.ignoreFields);
    if (canonical !== undefined) return `json:${createHash("sha256").update(canonical).digest("base64url")}`;
  }
  return `bytes:${createHash("sha256").update(body).digest("base64url")}`;
}

export function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

/** Fails on malformed UTF-8 (toString("utf8") would map every bad byte to U+FFFD alike). */
export const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Canonical text of a JSON document, or undefined when it is not (acceptable) JSON — then
 * the caller hashes the bytes. Not acceptable: malformed UTF-8, nesting deeper than
 * MAX_JSON_DEPTH, numbers a double cannot tell apart (see {@link decimal}), and duplicate
 * member names — JSON.parse keeps the last `amount` of `{"amount":1,"amount":100}` while
 * a gateway may keep the first; by value, two different documents must never compare equal.
 */
export function canonicalJson(body: Buffer | string, ignoreFields: readonly string[] = []): string | undefined {
  let text: string;
  let value: unknown;
  try {
    text = typeof body === "string" ? body : UTF8.decode(body);
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (hasLossyNumber(text) || hasDuplicateNames(text, value)) return undefined;
  for (const pointer of ignoreFields) value = removePointer(value, parsePointer(pointer));
  return stringify(value, 1);
}

/** String literals (skipped) or number literals, in text already known to be valid JSON. */
const TOKENS = /"(?:[^"\\]|\\.)*"|-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?/g;

function hasLossyNumber(text: string): boolean {
  if (!/\d/.test(text)) return false;
  for (const match of text.matchAll(TOKENS)) {
    const [literal, int, frac = "", exp] = match;
    // ≤ 15 digits without exponent: always exact and normal (DBL_DIG), the common case.
    if (int === undefined || (exp === undefined && int.length + frac.length <= 15)) continue;
    if (decimal(literal) !== decimal(String(Number(literal)))) return true;
  }
  return false;
}

/** Every string literal, and whether it is a member name (followed by a colon). */
const STRINGS = /"(?:[^"\\]|\\.)*"(\s*:)?/g;

/** More member names in the text than in the parsed value: some object repeated a name. */
export function hasDuplicateNames(text: string, value: unknown): boolean {
  if (!text.includes(":")) return false;
  let declared = 0;
  for (const match of text.matchAll(STRINGS)) if (match[1] !== undefined) declared++;
  if (declared === 0) return false;
  let kept = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === null || typeof item !== "object") continue;
    const children = Array.isArray(item) ? item : Object.values(item);
    if (!Array.isArray(item)) kept += children.length;
    for (const child of children) stack.push(child);
  }
  return declared !== kept;
}

/**
 * A number literal is compared by value only if it is the shortest spelling of its double
 * (what JSON.stringify writes back), as a decimal value: then two such literals with the same
 * double are the same number. Otherwise `12345678901234567891` would equal
 * `12345678901234567890`, `0.10000000000000000001` would equal `0.1`, and `1e400` would
 * equal `null` (JSON.stringify(Infinity)) — two different requests, one fingerprint.
 */
function decimal(literal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) return `?${literal}`; // Infinity, NaN
  const [, sign, int = "", frac = "", exp = "0"] = m;
  const all = int + frac;
  const lead = all.length - all.replace(/^0+/, "").length;
  const digits = all.slice(lead).replace(/0+$/, "");
  if (digits === "") return "0";
  return `${sign}0.${digits}e${BigInt(exp) + BigInt(int.length - lead)}`;
}

/**
 * Sorted keys, no whitespace; numbers and strings in JSON.stringify's normal form. Undefined
 * past MAX_JSON_DEPTH, so the recursion is bounded whatever the document (JSON.parse itself
 * is not recursive: a 500,000-deep array parses, then comes back here as too deep).
 */
function stringify(value: unknown, depth: number): string | undefined {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (depth > MAX_JSON_DEPTH) return undefined;
  let out: string;
  if (Array.isArray(value)) {
    out = "[";
    for (let i = 0; i < value.length; i++) {
      const item = stringify(value[i], depth + 1);
      if (item === undefined) return undefined;
      out += i === 0 ? item : `,${item}`;
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const item = stringify(record[key], depth + 1);
    if (item === undefined) return undefined;
    out += `${i === 0 ? "" : ","}${JSON.stringify(key)}:${item}`;
  }
  return `${out}}`;
}

function removePointer(value: unknown, tokens: string[]): unknown {
  if (tokens.length === 0) return undefined;
  if (value === null || typeof value !== "object") return value;
  const [head, ...rest] = tokens as [string, ...string[]];
  if (Array.isArray(value)) {
    const index = Number(head);
    if (!Number.isInteger(index) || index < 0 || index >= value.length) return value;
    const copy = [...value];
    if (rest.length === 0) copy.splice(index, 1);
    else copy[index] = removePointer(copy[index], rest);
    return copy;
  }
  if (!Object.hasOwn(value, head)) return value;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (rest.length === 0) delete copy[head];
  else copy[head] = removePointer(copy[head], rest);
  return copy;
}
