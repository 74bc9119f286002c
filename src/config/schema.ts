/**
 * The configuration contract: every key, its default and its bounds, in one zod schema.
 * A file holding only `upstream.url` is a complete config. Unknown keys are errors, so a
 * typo never silently falls back to a default on a payments path.
 */
import { z } from "zod";
import { parseDuration, parseSize } from "./units.js";

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

const port = int({ min: 0, max: 65535 });

const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export const httpMethod = z.preprocess((v) => (typeof v === "string" ? v.toUpperCase() : v), z.enum(HTTP_METHODS));

const upstreamUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `must be an absolute http(s) URL (got ${JSON.stringify(value)})` });
    return;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") ctx.addIssue({ code: "custom", message: "must use http or https" });
  if (url.username || url.password) ctx.addIssue({ code: "custom", message: "must not carry credentials; the client's own headers are forwarded" });
  if (url.search || url.hash) ctx.addIssue({ code: "custom", message: "must not have a query string or fragment" });
});

/**
 * Cross-field checks run even when a sibling field is invalid, so one pass reports every
 * problem; they apply only once both compared fields parsed.
 */
function bothNumbers(a: string, b: string) {
  return (payload: { value: unknown }) => {
    const v = payload.value as Record<string, unknown> | undefined;
    return typeof v?.[a] === "number" && typeof v?.[b] === "number";
  };
}

/** Per-attempt and overall upstream timeouts (the resilience issue adds retries inside `total`). */
const timeoutSchema = z.strictObject({
  attempt: duration({ min: 1 }).default(10_000),
  total: duration({ min: 1 }).default(30_000),
});

const resilienceSchema = z.strictObject({
  timeout: timeoutSchema
    .refine((t) => !(t.attempt > t.total), { message: "must be ≤ resilience.timeout.total", path: ["attempt"], when: bothNumbers("attempt", "total") })
    .prefault({}),
});

/** Route overrides: same keys as the top-level sections, every one optional. */
const routeSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 letters, digits, '_', '.' or '-'")
    .optional(),
  methods: z.array(httpMethod).min(1).optional(),
  path: z.string().startsWith("/", "must start with '/'"),
  resilience: z
    .strictObject({ timeout: z.strictObject({ attempt: duration({ min: 1 }).optional(), total: duration({ min: 1 }).optional() }).optional() })
    .optional(),
});

export const configSchema = z.strictObject({
  server: z.strictObject({ host: z.string().min(1).default("0.0.0.0"), port: port.default(8080) }).prefault({}),
  admin: z.strictObject({ host: z.string().min(1).default("0.0.0.0"), port: port.default(9090) }).prefault({}),
  upstream: z.strictObject({
    url: upstreamUrl,
    connections: int({ min: 1, max: 10_000 }).default(128),
    connectTimeout: duration({ min: 1 }).default(5_000),
    keepAliveTimeout: duration({ min: 1 }).default(4_000),
  }),
  limits: z
    .strictObject({
      maxBodySize: size({ min: 1 }).default(1024 * 1024),
      headersTimeout: duration({ min: 1 }).default(10_000),
      requestTimeout: duration({ min: 1 }).default(60_000),
    })
    .refine((l) => !(l.headersTimeout > l.requestTimeout), {
      message: "must be ≤ limits.requestTimeout",
      path: ["headersTimeout"],
      when: bothNumbers("headersTimeout", "requestTimeout"),
    })
    .prefault({}),
  shutdown: z
    .strictObject({
      readinessDelay: duration().default(2_000),
      drainTimeout: duration().default(30_000),
    })
    .prefault({}),
  log: z.strictObject({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") }).prefault({}),
  resilience: resilienceSchema.prefault({}),
  routes: z.array(routeSchema).default([]),
});

export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config["routes"][number];
export type ResilienceConfig = Config["resilience"];
