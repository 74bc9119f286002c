/**
 * The request fingerprint: what must be equal for a repeat to count as the same request.
 * Method + path + query + body digest (+ configured headers). With `canonical-json`, JSON
 * bodies are compared by value — key order and whitespace do not matter — and the
 * configured JSON pointers are left out; anything else is hashed as bytes. Pure.
 */
import { createHash } from "node:crypto";

export interface FingerprintOptions {
  body: "canonical-json" | "bytes";
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

export function fingerprint(input: FingerprintInput, options: FingerprintOptions): string {
  const hash = createHash("sha256");
  hash.update(input.method).update("\n").update(input.target).update("\n");
  for (const value of options.headerValues) hash.update(value === undefined ? "\x00" : `\x01${value}`).update("\n");
  hash.update(bodyDigest(input, options));
  return hash.digest("base64url");
}

function bodyDigest(input: FingerprintInput, options: FingerprintOptions): string {
  const body = input.body ?? Buffer.alloc(0);
  if (options.body === "canonical-json" && body.length > 0 && isJson(input.contentType)) {
    const canonical = canonicalJson(body, options.ignoreFields);
    if (canonical !== undefined) return `json:${createHash("sha256").update(canonical).digest("base64url")}`;
  }
  return `bytes:${createHash("sha256").update(body).digest("base64url")}`;
}

function isJson(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
}

/** Canonical text of a JSON document, or undefined when it is not (acceptable) JSON. */
export function canonicalJson(body: Buffer | string, ignoreFields: readonly string[] = []): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
  } catch {
    return undefined;
  }
  if (depthExceeds(value, MAX_JSON_DEPTH)) return undefined;
  for (const pointer of ignoreFields) value = removePointer(value, parsePointer(pointer));
  return stringify(value);
}

function depthExceeds(root: unknown, max: number): boolean {
  // Iterative, so a hostile 100k-deep document cannot overflow the stack.
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (value === null || typeof value !== "object") continue;
    if (depth > max) return true;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Sorted keys, no whitespace; numbers and strings in JSON.stringify's normal form. */
function stringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stringify).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stringify((value as Record<string, unknown>)[k])}`).join(",")}}`;
}

/** RFC 6901 tokens of a JSON pointer ("" is the whole document). */
function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
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
