/**
 * The field types config sections are built from: units (durations, sizes), integers that
 * may arrive as strings, HTTP names, status matchers and JSON pointers. Pure.
 */
import { z } from "zod";
import { parseDuration, parseSize } from "../units.js";

/** A duration ("250ms", "10s", "24h" or a number of ms) → milliseconds. */
export function duration(bounds: { min?: number; max?: number } = {}) {
  const error = 'must be a duration such as "250ms", "10s" or "24h", or a number of milliseconds';
  return z.union([z.string({ error }), z.number({ error })]).transform((value, ctx) => {
    const parsed = parseDuration(value);
    if (parsed === undefined) {
      ctx.issues.push({ code: "custom", input: value, message: `must be a duration such as "250ms", "10s" or "24h" (got ${JSON.stringify(value)})` });
      return z.NEVER;
    }
    if (bounds.min !== undefined && parsed < bounds.min) {
      ctx.issues.push({ code: "custom", input: value, message: `must be ≥ ${bounds.min}ms` });
      return z.NEVER;
    }
    if (bounds.max !== undefined && parsed > bounds.max) {
      ctx.issues.push({ code: "custom", input: value, message: `must be ≤ ${bounds.max}ms` });
      return z.NEVER;
    }
    return parsed;
  });
}

/** A size ("1mb", "512kb" or a number of bytes) → bytes. */
export function size(bounds: { min?: number } = {}) {
  const error = 'must be a size such as "512kb" or "1mb", or a number of bytes';
  return z.union([z.string({ error }), z.number({ error })]).transform((value, ctx) => {
    const parsed = parseSize(value);
    if (parsed === undefined) {
      ctx.issues.push({ code: "custom", input: value, message: `must be a size such as "512kb" or "1mb" (got ${JSON.stringify(value)})` });
      return z.NEVER;
    }
    if (bounds.min !== undefined && parsed < bounds.min) {
      ctx.issues.push({ code: "custom", input: value, message: `must be ≥ ${bounds.min} bytes` });
      return z.NEVER;
    }
    return parsed;
  });
}

/** An integer that may arrive as a string after `${VAR}` interpolation. */
export function int(bounds: { min: number; max: number }) {
  return z.preprocess((v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v), z.number().int().min(bounds.min).max(bounds.max));
}

export const port = int({ min: 0, max: 65535 });

/** true or false, which may arrive as the string "true" or "false" after `${VAR}` interpolation. */
export const flag = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean({ error: "must be true or false" }));

const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export const httpMethod = z.preprocess((v) => (typeof v === "string" ? v.toUpperCase() : v), z.enum(HTTP_METHODS));

export const headerName = z
  .string({ error: "must be an HTTP header name" })
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name")
  .transform((h) => h.toLowerCase());

/**
 * An HTTP status from min to max: a number, or its digits as a string (a `${VAR}` arrives as
 * one). Every refusal aborts, so a union it is in names all of its options (config/issues.ts).
 */
export function statusCode(min: number, max: number) {
  const error = `must be a status code ${min}–${max}`;
  const code = z.number({ error }).int({ abort: true }).min(min, { abort: true }).max(max, { abort: true });
  return z.union([
    code,
    z
      .string({ error })
      .regex(/^\d{3}$/, { error, abort: true })
      .transform(Number)
      .pipe(code),
  ]);
}

/** The status classes a list of statuses may name: "5xx" is every 5xx status. */
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

/** A status class ("2xx") or an exact status (402). */
export const statusMatcher = z.union([z.enum(STATUS_CLASSES), statusCode(100, 599)]);

/** JSON Pointer (RFC 6901): "" or "/a/b~1c". */
export const jsonPointer = z.string().regex(/^(\/([^~/]|~[01])*)*$/, 'must be a JSON pointer such as "/metadata/trace_id"');

/** A JSON pointer to one member (not the whole document), or false for none. */
export const fieldPointer = z.union([
  z.literal(false),
  z
    .string({ error: 'must be a JSON pointer to a member, such as "/idempotency_key"' })
    .regex(/^(\/([^~/]|~[01])*)+$/, 'must be a JSON pointer to a member, such as "/idempotency_key", or false'),
]);

/** A path pattern in the routes' syntax: "/v1/oauth2/token", "/v1/charges/:id", "/v1/*". */
export const pathPattern = z.string().startsWith("/", "must start with '/'");

/** An absolute http(s) URL (a refine, not z.url(): the chart's JSON schema has no `uri` format). */
export function isHttpUrl(value: string): boolean {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
