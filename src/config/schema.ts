/**
 * The configuration contract: every key, its default and its bounds, in one zod schema.
 * A file holding only `upstream.url` is a complete config. Unknown keys are errors, so a
 * typo never silently falls back to a default on a payments path.
 */
import { z } from "zod";
import { detectGateway, GATEWAYS } from "../gateways/detect.js";
import { parsePointer } from "../idempotency/pointer.js";
import { isSensitiveName } from "../sensitive.js";
import { parseKeys } from "../store/crypto.js";
import { mergeDefined } from "./merge.js";
import { resolveStoreType, STORE_TYPES, storeKeyProblems } from "./store-keys.js";
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

/**
 * Sections that routes may override are written once as a function of `mode`: with
 * defaults at the top level, all-optional (no defaults) inside `routes[]`.
 */
type Mode = "defaults" | "override";
type Opt<M extends Mode, T extends z.ZodType> = M extends "defaults" ? z.ZodDefault<T> : z.ZodOptional<T>;
type Section<M extends Mode, T extends z.core.$ZodShape> = M extends "defaults"
  ? z.ZodPrefault<z.ZodObject<T, z.core.$strict>>
  : z.ZodOptional<z.ZodObject<T, z.core.$strict>>;

function opt<M extends Mode, T extends z.ZodType>(mode: M, field: T, value: z.output<T>): Opt<M, T> {
  return (mode === "defaults" ? field.default(value as never) : field.optional()) as Opt<M, T>;
}
function section<M extends Mode, T extends z.core.$ZodShape>(mode: M, shape: T): Section<M, T> {
  const object = z.strictObject(shape);
  return (mode === "defaults" ? object.prefault({} as never) : object.optional()) as Section<M, T>;
}

/** Per-attempt and overall upstream timeouts (the resilience issue adds retries inside `total`). */
/** What a retry may be triggered by: failure kinds, or a gateway status. */
const retryCondition = z.union([
  z.enum(["connect-error", "attempt-timeout", "reset"]),
  z.number().int().min(400).max(599),
  z
    .string()
    .regex(/^[45]\d\d$/, 'must be "connect-error", "attempt-timeout", "reset" or a 4xx/5xx status')
    .transform(Number),
]);

function resilienceSection<M extends Mode>(mode: M) {
  return section(mode, {
    timeout: section(mode, {
      attempt: opt(mode, duration({ min: 1 }), 10_000),
      total: opt(mode, duration({ min: 1 }), 30_000),
    }),
    retry: section(mode, {
      maxAttempts: opt(mode, int({ min: 1, max: 10 }), 3),
      backoff: section(mode, {
        type: opt(mode, z.enum(["exponential"]), "exponential"),
        initial: opt(mode, duration({ min: 1 }), 100),
        max: opt(mode, duration({ min: 1 }), 5_000),
        jitter: opt(mode, z.enum(["decorrelated", "full", "none"]), "decorrelated"),
      }),
      on: opt(mode, z.array(retryCondition), ["connect-error", "attempt-timeout", "reset", 502, 503, 504, 429]),
      /**
       * response headers by which the gateway says whether a retry is safe: "true" retries
       * even a status not in `on`, "false" never retries (Stripe-Should-Retry; profiles set it)
       */
      hints: opt(mode, z.array(headerName), []),
      retryAfter: section(mode, {
        honor: opt(mode, z.boolean(), true),
        max: opt(mode, duration(), 10_000),
      }),
      budget: section(mode, {
        ratio: opt(mode, z.number().min(0).max(10), 0.2),
        minPerSecond: opt(mode, z.number().min(0), 10),
        window: opt(mode, duration({ min: 1000, max: 3_600_000 }), 10_000),
      }),
    }),
    bulkhead: section(mode, {
      maxConcurrent: opt(mode, int({ min: 1, max: 100_000 }), 256),
      maxQueue: opt(mode, int({ min: 0, max: 1_000_000 }), 512),
    }),
    breaker: section(mode, {
      type: opt(mode, z.enum(["consecutive", "sampling"]), "consecutive"),
      threshold: opt(mode, int({ min: 1, max: 1000 }), 5),
      sampling: section(mode, {
        failureRate: opt(mode, z.number().gt(0).max(1), 0.5),
        window: opt(mode, duration({ min: 1000 }), 30_000),
        minRequests: opt(mode, int({ min: 1, max: 1_000_000 }), 20),
      }),
      halfOpenAfter: opt(mode, duration({ min: 1 }), 10_000),
    }),
  });
}

/** A status class ("2xx") or an exact status (402). */
const statusMatcher = z.union([z.string().regex(/^[1-5]xx$/, 'must be a status class like "2xx" or a status code'), z.number().int().min(100).max(599)]);

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be an HTTP header name")
  .transform((h) => h.toLowerCase());

/** JSON Pointer (RFC 6901): "" or "/a/b~1c". */
const jsonPointer = z.string().regex(/^(\/([^~/]|~[01])*)*$/, 'must be a JSON pointer such as "/metadata/trace_id"');
/** A JSON pointer to one member (not the whole document), or false for none. */
const fieldPointer = z.union([
  z.literal(false),
  z.string().regex(/^(\/([^~/]|~[01])*)+$/, 'must be a JSON pointer to a member, such as "/idempotency_key", or false'),
]);
/**
 * A response field the outcome ledger keeps: a JSON pointer to a member, never through a
 * member named like a secret or a card field (the ledger must hold neither).
 */
const ledgerField = z
  .string()
  .regex(/^(\/([^~/]|~[01])*)+$/, 'must be a JSON pointer to a member, such as "/id"')
  .refine((pointer) => !parsePointer(pointer).some(isSensitiveName), { message: "names a secret or card field: the ledger never keeps those" });

/** A path pattern in the routes' syntax: "/v1/oauth2/token", "/v1/charges/:id", "/v1/*". */
const pathPattern = z.string().startsWith("/", "must start with '/'");

function idempotencySection<M extends Mode>(mode: M) {
  return section(mode, {
    header: opt(mode, headerName, "idempotency-key"),
    /** where in a JSON body the key is, when the header is absent (Square: "/idempotency_key") */
    bodyField: opt(mode, fieldPointer, false),
    /** longest key accepted (the gateway's own limit: Stripe 255, Adyen 64) */
    maxKeyLength: opt(mode, int({ min: 1, max: 255 }), 255),
    methods: opt(mode, z.array(httpMethod).min(1), ["POST", "PATCH"]),
    mode: opt(mode, z.enum(["required", "optional", "off"]), "required"),
    /** paths whose requests are never keyed, whatever `mode` says (PayPal's OAuth token endpoint) */
    exempt: opt(mode, z.array(pathPattern), []),
    ttl: opt(mode, duration({ min: 1000 }), 24 * 3_600_000),
    lease: opt(mode, duration({ min: 100 }), 10_000),
    scope: opt(mode, z.array(headerName), ["authorization"]),
    /** a keyed request must carry every scope header (400 idempotency_scope_missing), never pooled as "absent" */
    requireScope: opt(mode, z.boolean(), false),
    fingerprint: section(mode, {
      body: opt(mode, z.enum(["canonical-json", "bytes"]), "canonical-json"),
      /**
       * JSON bodies larger than this are fingerprinted as bytes: canonicalising 1 MB takes
       * 50–80 ms of the event loop that every other request waits on
       */
      canonicalMaxBytes: opt(mode, size({ min: 1 }), 64 * 1024),
      ignoreFields: opt(mode, z.array(jsonPointer), []),
      headers: opt(mode, z.array(headerName), []),
    }),
    inFlight: section(mode, {
      strategy: opt(mode, z.enum(["wait", "reject"]), "wait"),
      maxWait: opt(mode, duration(), 10_000),
    }),
    replay: opt(mode, z.array(statusMatcher).min(1), ["2xx", "4xx"]),
    /** statuses by which this gateway promises it did nothing: released, never stored */
    notProcessed: opt(mode, z.array(statusMatcher), []),
    maxResponseSize: opt(mode, size({ min: 1 }), 1024 * 1024),
    /**
     * completion of unknown outcomes: when every attempt of a request sent with an upstream
     * key ended without an answer, the owning replica keeps the key in flight and re-sends
     * the same bytes in the background, with capped backoff, for at most maxDuration (0: never)
     */
    completion: section(mode, {
      maxDuration: opt(mode, duration({ max: 24 * 3_600_000 }), 600_000),
      initialDelay: opt(mode, duration({ min: 10 }), 1_000),
      maxDelay: opt(mode, duration({ min: 10 }), 30_000),
      /** completions running at once in this process; past it a key is settled as without completion */
      maxConcurrent: opt(mode, int({ min: 1, max: 100_000 }), 1_000),
    }),
    /** the outcome ledger (sqlite, postgres stores): which fields of the gateway's answer it keeps */
    ledger: section(mode, { fields: opt(mode, z.array(ledgerField).max(16), ["/id"]) }),
    /**
     * how the key reaches the gateway, so its own dedupe covers payguard's retries: a header
     * payguard sets on every attempt; "body" (the key is the body field, forwarded byte for
     * byte); or false (the gateway has no idempotency: a POST is never re-sent)
     */
    upstreamKey: opt(mode, z.union([z.literal(false), z.literal("body"), z.strictObject({ header: headerName })]), { header: "idempotency-key" }),
  });
}

/** Route overrides: same keys as the top-level sections, every one optional. */
const routeSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 letters, digits, '_', '.' or '-'")
    .optional(),
  methods: z.array(httpMethod).min(1).optional(),
  path: z.string().startsWith("/", "must start with '/'"),
  resilience: resilienceSection("override"),
  idempotency: idempotencySection("override"),
});

const redisUrl = z.string().regex(/^rediss?:\/\/.+/, "must be a redis:// or rediss:// URL");
const postgresUrl = z.string().regex(/^postgres(ql)?:\/\/.+/, "must be a postgres:// URL");
/** store.url: a redis:// URL for redis, a postgres:// URL for postgres (checked against store.type). */
const storeUrl = z.string().regex(/^(rediss?|postgres(ql)?):\/\/.+/, "must be a redis://, rediss:// or postgres:// URL");

/**
 * Comma-separated base64 AES-256 keys, the encrypting one first; "" for none. Checked here so
 * `check` refuses what `serve` could not start with; the chart's schema gets the pattern
 * (a `${VAR}` reference passes it: the value arrives from a Secret).
 */
const encryptionKeys = z
  .string()
  .superRefine((value, ctx) => {
    try {
      parseKeys(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  })
  .meta({ pattern: "^(\\s*|.*\\$\\{.*|\\s*[A-Za-z0-9+/]{43}=\\s*(,\\s*[A-Za-z0-9+/]{43}=\\s*)*)$" });

/** Every store key with its default; which type reads which key: ./store-keys.ts. */
const storeFields = z.strictObject({
  /**
   * sqlite: a durable file, one replica (the default); memory: one process, forgotten at a
   * restart (tests, the demo); redis, postgres: shared by every replica. Absent, a store.url
   * names it by its scheme (resolveStoreType)
   */
  type: z.enum(STORE_TYPES).default("sqlite"),
  // sqlite
  /** the database file (its directory is created); one per replica */
  path: z.string().min(1).default("/var/lib/payguard/payguard.db"),
  /** normal: a commit survives payguard being killed; full: also a power cut (an fsync per commit) */
  synchronous: z.enum(["normal", "full"]).default("normal"),
  // memory
  maxEntries: int({ min: 1, max: 100_000_000 }).default(100_000),
  maxSize: size({ min: 1024 }).default(256 * 1024 * 1024),
  // redis
  // redis and postgres
  url: storeUrl.default("redis://127.0.0.1:6379"),
  cluster: z.strictObject({ nodes: z.array(redisUrl).default([]) }).prefault({}),
  sentinel: z.strictObject({ name: z.string().default("mymaster"), nodes: z.array(redisUrl).default([]) }).prefault({}),
  /**
   * redis: a claim, completion, renewal or resolution counts only once this many replicas
   * acknowledged it (WAIT), so a failover cannot lose it; fewer within timeout is a store
   * error (a claim: 503, nothing sent; an answer: journaled and written back). 0: off
   */
  waitForReplicas: z.strictObject({ replicas: int({ min: 0, max: 16 }).default(0), timeout: duration({ min: 1, max: 10_000 }).default(100) }).prefault({}),
  // postgres
  postgres: z
    .strictObject({
      /**
       * every node of a primary/standby set, when there are several: payguard uses the one that
       * is writable (not in recovery), and looks again after a connection fails or a write is
       * refused as read-only; empty: store.url alone
       */
      nodes: z.array(postgresUrl).default([]),
      /** the schema payguard creates its tables in (and migrates, under an advisory lock) */
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier")
        .default("payguard"),
      /** connections in the pool, besides the one that LISTENs */
      poolSize: int({ min: 1, max: 1000 }).default(10),
    })
    .prefault({}),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1-64 letters, digits, '_', '.', ':' or '-'")
    .default("payguard"),
  operationTimeout: duration({ min: 1 }).default(250),
  onUnavailable: z.enum(["reject", "local"]).default("reject"),
  /** /readyz is 503 while the store cannot be reached */
  readiness: z.boolean().default(true),
  /** the outcome ledger (sqlite, postgres): one row per settlement, kept this long (not the records' TTL) */
  ledger: z.strictObject({ retention: duration({ min: 60_000 }).default(400 * 86_400_000) }).prefault({}),
  journal: z
    .strictObject({
      dir: z.string().min(1).default("/var/lib/payguard/journal"),
      fsync: z.boolean().default(true),
      /** answers waiting for write-back, at the most: at the cap new keys are refused (503 store_full) */
      maxEntries: int({ min: 1, max: 10_000_000 }).default(10_000),
      /** their bytes (held in memory as well as on disk), at the most */
      maxBytes: size({ min: 1024 }).default(128 * 1024 * 1024),
    })
    .prefault({}),
  encryption: z.strictObject({ key: encryptionKeys.default("") }).prefault({}),
});

/**
 * The store section: read as the file wrote it (no defaults), so a key the store type does not
 * use is told from a default and reported at its path (storeKeyProblems) — even beside other
 * problems; then the type (resolveStoreType) and every default of `storeFields`.
 */
const storeSchema = asWritten(storeFields)
  .superRefine(
    (given, ctx) => {
      // Runs even when the section failed its own checks (to list every problem): not an object then, maybe.
      if (typeof given !== "object" || given === null || Array.isArray(given)) return;
      for (const { path, message } of storeKeyProblems(given as Record<string, unknown>)) ctx.addIssue({ code: "custom", path, message });
    },
    { when: () => true },
  )
  .transform((given): z.output<typeof storeFields> => {
    const type = resolveStoreType(given as Record<string, unknown>)?.type ?? "sqlite";
    return mergeDefined(storeFields.parse({ type }), given);
  });

/**
 * A strict object as a file writes it: every default and prefault removed, in its sections too,
 * so a key the file left out stays out. The default stays as metadata (the chart's JSON schema).
 */
function asWritten(schema: z.ZodObject): z.ZodObject {
  const written = (field: z.ZodType): z.ZodType => {
    if (field instanceof z.ZodDefault || field instanceof z.ZodPrefault) {
      return written(field.unwrap() as z.ZodType)
        .optional()
        .meta({ default: field.def.defaultValue });
    }
    return field instanceof z.ZodObject ? asWritten(field) : field;
  };
  return z.strictObject(Object.fromEntries(Object.entries(schema.shape).map(([key, field]) => [key, written(field as z.ZodType)])));
}

export const configSchema = z
  .strictObject({
    server: z.strictObject({ host: z.string().min(1).default("0.0.0.0"), port: port.default(8080) }).prefault({}),
    admin: z
      .strictObject({
        host: z.string().min(1).default("0.0.0.0"),
        port: port.default(9090),
        /** /admin/records: look into and resolve idempotency records (off by default) */
        api: z
          .strictObject({
            enabled: z.boolean().default(false),
            /** the bearer token operators send; required (≥ 32 characters) when enabled */
            token: z.string().default(""),
            /** whether `?include=body` may return stored response bodies */
            revealBodies: z.boolean().default(false),
          })
          .refine((api) => !api.enabled || api.token.length >= 32, { message: "must be at least 32 characters when admin.api is enabled", path: ["token"] })
          .prefault({}),
      })
      .prefault({}),
    upstream: z
      .strictObject({
        url: upstreamUrl,
        /** the gateway profile: its defaults (config/profile.ts, gateways/) and its native error envelope */
        gateway: z.enum(["auto", ...GATEWAYS]).default("auto"),
        /** where the gateway names its request id in an answer (logs, records); profiles set it */
        requestId: z.strictObject({ header: z.union([z.literal(false), headerName]).default(false), field: fieldPointer.default(false) }).prefault({}),
        connections: int({ min: 1, max: 10_000 }).default(128),
        connectTimeout: duration({ min: 1 }).default(5_000),
        keepAliveTimeout: duration({ min: 1 }).default(4_000),
      })
      // The loader resolves `auto` (config/profile.ts, with the profile's defaults); a config
      // parsed by the schema alone gets the same answer here, so payguard sees one name.
      .transform((u) => ({ ...u, gateway: u.gateway === "auto" ? detectGateway(u.url) : u.gateway })),
    limits: z
      .strictObject({
        maxBodySize: size({ min: 1 }).default(1024 * 1024),
        /**
         * request body bytes held in memory by all requests together (as they arrive, never
         * as declared); past it new bodies get 503 overloaded
         */
        maxBufferedBodyBytes: size({ min: 1 }).default(64 * 1024 * 1024),
        /** all request header lines together (Node's parser answers 431 past it) */
        maxHeaderSize: size({ min: 1024 }).default(16 * 1024),
        /** request header fields */
        maxHeaders: int({ min: 1, max: 10_000 }).default(100),
        headersTimeout: duration({ min: 1 }).default(10_000),
        requestTimeout: duration({ min: 1 }).default(60_000),
      })
      .refine((l) => !(l.headersTimeout > l.requestTimeout), {
        message: "must be ≤ limits.requestTimeout",
        path: ["headersTimeout"],
        when: bothNumbers("headersTimeout", "requestTimeout"),
      })
      .refine((l) => !(l.maxBodySize > l.maxBufferedBodyBytes), {
        message: "must be ≥ limits.maxBodySize (else a body of that size could never be read)",
        path: ["maxBufferedBodyBytes"],
        when: bothNumbers("maxBodySize", "maxBufferedBodyBytes"),
      })
      .prefault({}),
    shutdown: z
      .strictObject({
        readinessDelay: duration().default(2_000),
        drainTimeout: duration().default(30_000),
        /**
         * after the connections are closed, how long upstream calls still running may take to
         * settle their keys (and answers the store refused, to be written) before the store
         * closes: at least the longest resilience.timeout.total
         */
        settleTimeout: duration().default(30_000),
      })
      .prefault({}),
    reload: z
      .strictObject({
        /** reload when the config file changes (a ConfigMap update swaps a symlink: handled) */
        watch: z.boolean().default(true),
        /** wait this long after a change for the writer to finish */
        debounce: duration().default(250),
      })
      .prefault({}),
    log: z.strictObject({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info") }).prefault({}),
    resilience: resilienceSection("defaults"),
    idempotency: idempotencySection("defaults"),
    store: storeSchema.prefault({}),
    routes: z.array(routeSchema).default([]),
  })
  .superRefine(crossChecks, { when: () => true });

/**
 * Checks across fields, on the effective values of the top level and of every route. They
 * run even when other fields are invalid (so one pass reports every problem), and skip what
 * did not parse.
 */
function crossChecks(config: unknown, ctx: z.RefinementCtx): void {
  const c = config as {
    resilience?: { timeout?: Partial<Record<"attempt" | "total", unknown>> };
    routes?: unknown;
    idempotency?: { maxResponseSize?: unknown; upstreamKey?: unknown; bodyField?: unknown };
    store?: { type?: unknown; maxSize?: unknown };
  };
  checkResponseFits(c, ctx);
  checkBodyKey(c, ctx);
  checkStoreUrl(c, ctx);
  checkRecordLifetime(c, ctx);
  const top = c.resilience?.timeout ?? {};
  const check = (timeout: Partial<Record<"attempt" | "total", unknown>>, path: PropertyKey[]) => {
    const attempt = timeout.attempt ?? top.attempt;
    const total = timeout.total ?? top.total;
    if (typeof attempt === "number" && typeof total === "number" && attempt > total) {
      ctx.addIssue({ code: "custom", path, message: "must be ≤ resilience.timeout.total" });
    }
  };
  check(top, ["resilience", "timeout", "attempt"]);
  if (Array.isArray(c.routes)) {
    c.routes.forEach((route: { resilience?: { timeout?: Partial<Record<"attempt" | "total", unknown>> } } | undefined, i) => {
      if (route?.resilience?.timeout) check(route.resilience.timeout, ["routes", i, "resilience", "timeout", "attempt"]);
    });
  }
}

/** A stored answer must fit the memory store, or it could never be replayed: the top level's and each route's. */
function checkResponseFits(
  c: { idempotency?: { maxResponseSize?: unknown }; routes?: unknown; store?: { type?: unknown; maxSize?: unknown } },
  ctx: z.RefinementCtx,
): void {
  const maxSize = c.store?.maxSize;
  if (c.store?.type !== "memory" || typeof maxSize !== "number") return;
  const check = (maxResponse: unknown, path: PropertyKey[]) => {
    if (typeof maxResponse === "number" && maxResponse + 64 * 1024 > maxSize)
      ctx.addIssue({ code: "custom", path, message: "must be at least 64kb below store.maxSize" });
  };
  check(c.idempotency?.maxResponseSize, ["idempotency", "maxResponseSize"]);
  if (!Array.isArray(c.routes)) return;
  c.routes.forEach((route: { idempotency?: { maxResponseSize?: unknown } } | undefined, i) => {
    check(route?.idempotency?.maxResponseSize, ["routes", i, "idempotency", "maxResponseSize"]);
  });
}

/** store.url must be of the store's kind. */
function checkStoreUrl(c: { store?: { type?: unknown; url?: unknown; postgres?: { nodes?: unknown } } }, ctx: z.RefinementCtx): void {
  const { type, url } = c.store ?? {};
  if (typeof url !== "string") return;
  if (type === "redis" && !/^rediss?:\/\//.test(url))
    ctx.addIssue({ code: "custom", path: ["store", "url"], message: "must be a redis:// or rediss:// URL for store.type redis" });
  const nodes = c.store?.postgres?.nodes;
  const hasNodes = Array.isArray(nodes) && nodes.length > 0;
  if (type === "postgres" && !hasNodes && !/^postgres(ql)?:\/\//.test(url)) {
    ctx.addIssue({ code: "custom", path: ["store", "url"], message: "must be a postgres:// URL for store.type postgres (or list store.postgres.nodes)" });
  }
}

/** What the ttl rule reads of a section: the top level's, or a route's overrides. */
type LifetimeSection = {
  idempotency?: { ttl?: unknown; upstreamKey?: unknown; completion?: { maxDuration?: unknown } };
  resilience?: { timeout?: { total?: unknown } };
};

/**
 * idempotency.ttl must cover how long a key may stay in flight: the total timeout, plus
 * completion's maxDuration when completion can run (an upstream key, maxDuration > 0). The
 * stores keep a renewed record past its ttl anyway; this makes a ttl too short to mean what it
 * says an error. A route is judged on its effective values, when it sets one of them.
 */
function checkRecordLifetime(c: LifetimeSection & { routes?: unknown }, ctx: z.RefinementCtx): void {
  const check = (route: LifetimeSection, path: PropertyKey[]) => {
    const pick = (read: (section: LifetimeSection) => unknown) => read(route) ?? read(c);
    const ttl = pick((x) => x.idempotency?.ttl);
    const total = pick((x) => x.resilience?.timeout?.total);
    const maxDuration = pick((x) => x.idempotency?.completion?.maxDuration);
    const completes = pick((x) => x.idempotency?.upstreamKey) !== false && typeof maxDuration === "number" && maxDuration > 0;
    if (typeof ttl !== "number" || typeof total !== "number") return;
    const least = total + (completes ? (maxDuration as number) : 0);
    if (ttl >= least) return;
    const what = completes ? "resilience.timeout.total + idempotency.completion.maxDuration" : "resilience.timeout.total";
    ctx.addIssue({ code: "custom", path, message: `must be ≥ ${what} (${least}ms)` });
  };
  check({}, ["idempotency", "ttl"]);
  if (!Array.isArray(c.routes)) return;
  c.routes.forEach((route: LifetimeSection | undefined, i) => {
    const idem = route?.idempotency;
    const sets = idem?.ttl ?? idem?.upstreamKey ?? idem?.completion?.maxDuration ?? route?.resilience?.timeout?.total;
    if (route && sets !== undefined) check(route, ["routes", i, "idempotency", "ttl"]);
  });
}

type IdempotencyKeys = { upstreamKey?: unknown; bodyField?: unknown } | undefined;

/** `upstreamKey: body` says the key travels in the body: the body field must be named. */
function checkBodyKey(c: { idempotency?: IdempotencyKeys; routes?: unknown }, ctx: z.RefinementCtx): void {
  const top = c.idempotency ?? {};
  const check = (idem: NonNullable<IdempotencyKeys>, path: PropertyKey[]) => {
    const upstreamKey = idem.upstreamKey ?? top.upstreamKey;
    const bodyField = idem.bodyField ?? top.bodyField;
    if (upstreamKey === "body" && (bodyField === false || bodyField === undefined)) {
      ctx.addIssue({ code: "custom", path, message: 'is "body": idempotency.bodyField must name the body field the gateway dedupes on' });
    }
  };
  check(top, ["idempotency", "upstreamKey"]);
  if (Array.isArray(c.routes)) {
    c.routes.forEach((route: { idempotency?: IdempotencyKeys } | undefined, i) => {
      if (route?.idempotency && ("upstreamKey" in route.idempotency || "bodyField" in route.idempotency)) {
        check(route.idempotency, ["routes", i, "idempotency", "upstreamKey"]);
      }
    });
  }
}

export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config["routes"][number];
export type ResilienceConfig = Config["resilience"];
export type IdempotencyConfig = Config["idempotency"];
export type StoreConfig = Config["store"];
export type StatusMatcher = z.output<typeof statusMatcher>;
