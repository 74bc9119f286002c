/** The store section: every key with its default, and which store type reads which (../store-keys.ts). */
import { z } from "zod";
import { parseKeys } from "../../store/crypto.js";
import { mergeDefined } from "../merge.js";
import { resolveStoreType, STORE_TYPES, storeKeyProblems } from "../store-keys.js";
import { asWritten } from "./as-written.js";
import { duration, flag, int, size } from "./fields.js";

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

/** The shared stores' (redis, postgres) URL; redis's topologies and replica acknowledgements. */
const sharedFields = {
  url: storeUrl.default("redis://127.0.0.1:6379"),
  cluster: z.strictObject({ nodes: z.array(redisUrl).default([]) }).prefault({}),
  sentinel: z.strictObject({ name: z.string().default("mymaster"), nodes: z.array(redisUrl).default([]) }).prefault({}),
  /**
   * redis: a claim, completion, renewal or resolution counts only once this many replicas
   * acknowledged it (WAIT), so a failover cannot lose it; fewer within timeout is a store
   * error (a claim: 503, nothing sent; an answer: journaled and written back). 0: off
   */
  waitForReplicas: z.strictObject({ replicas: int({ min: 0, max: 16 }).default(0), timeout: duration({ min: 1, max: 10_000 }).default(100) }).prefault({}),
};

const postgresFields = z
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
  .prefault({});

const journalFields = z
  .strictObject({
    dir: z.string().min(1).default("/var/lib/payguard/journal"),
    fsync: flag.default(true),
    /** answers waiting for write-back, at the most: at the cap new keys are refused (503 store_full) */
    maxEntries: int({ min: 1, max: 10_000_000 }).default(10_000),
    /** their bytes (held in memory as well as on disk), at the most */
    maxBytes: size({ min: 1024 }).default(128 * 1024 * 1024),
  })
  .prefault({});

/** Every store key with its default; which type reads which key: ../store-keys.ts. */
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
  ...sharedFields,
  postgres: postgresFields,
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1-64 letters, digits, '_', '.', ':' or '-'")
    .default("payguard"),
  operationTimeout: duration({ min: 1 }).default(250),
  onUnavailable: z.enum(["reject", "local"]).default("reject"),
  /** /readyz is 503 while the store cannot be reached */
  readiness: flag.default(true),
  /** the outcome ledger (sqlite, postgres): one row per settlement, kept this long (not the records' TTL) */
  ledger: z.strictObject({ retention: duration({ min: 60_000 }).default(400 * 86_400_000) }).prefault({}),
  journal: journalFields,
  encryption: z.strictObject({ key: encryptionKeys.default("") }).prefault({}),
});

/**
 * The store section: read as the file wrote it (no defaults), so a key the store type does not
 * use is told from a default and reported at its path (storeKeyProblems) — even beside other
 * problems; then the type (resolveStoreType) and every default of `storeFields`.
 */
export const storeSection = asWritten(storeFields)
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
  })
  .prefault({});
