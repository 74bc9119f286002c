/**
 * The field types config sections are built from: units (durations, sizes), integers that
 * may arrive as strings, HTTP names, status matchers and JSON pointers. Pure.
 */
import { z } from "zod";
import { parseDuration, parseSize } from "../units.js";

/** A duration ("250ms", "10s", "24h" or a number of ms) → milliseconds. */
export function duration(bounds: { min?: number; max?: number } = {}) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
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
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
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

const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export const httpMethod = z.preprocess((v) => (typeof v === "string" ? v.toUpperCase() : v), z.enum(HTTP_METHODS));

export const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name")
  .transform((h) => h.toLowerCase());

/** A status class ("2xx") or an exact status (402). */
export const statusMatcher = z.union([z.string().regex(/^[1-5]xx$/, 'must be a status class like "2xx" or a status code'), z.number().int().min(100).max(599)]);

/** JSON Pointer (RFC 6901): "" or "/a/b~1c". */
export const jsonPointer = z.string().regex(/^(\/([^~/]|~[01])*)*$/, 'must be a JSON pointer such as "/metadata/trace_id"');

/** A JSON pointer to one member (not the whole document), or false for none. */
export const fieldPointer = z.union([
  z.literal(false),
  z.string().regex(/^(\/([^~/]|~[01])*)+$/, 'must be a JSON pointer to a member, such as "/idempotency_key", or false'),
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
