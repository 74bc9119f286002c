/**
 * Which `store` keys each store type reads, and which type a file means. Pure.
 *
 * A key the chosen type does not read is a config error, never ignored: `store: { url:
 * postgres://… }` under the default type would have run on a per-replica SQLite file, and a
 * retry landing on another replica would no longer be deduplicated.
 */

export const STORE_TYPES = ["sqlite", "memory", "redis", "postgres"] as const;
export type StoreType = (typeof STORE_TYPES)[number];

/** How store.type was chosen: named by the file, taken from store.url's scheme, or the default. */
export type StoreTypeOrigin = "type" | "url" | "default";

/**
 * What the shared stores read (src/store/shared/): the URL, timeouts, readiness, the journal,
 * encryption, and maxEntries/maxSize for the memory store a replica falls back to with
 * `onUnavailable: local`.
 */
const SHARED = ["url", "operationTimeout", "onUnavailable", "readiness", "journal", "encryption", "maxEntries", "maxSize"];

/** The keys src/store/create.ts hands each backend and the layers around it (`type` is everyone's). */
const USES: Readonly<Record<StoreType, ReadonlySet<string>>> = {
  sqlite: new Set(["path", "synchronous", "ledger", "encryption"]),
  memory: new Set(["maxEntries", "maxSize"]),
  redis: new Set([...SHARED, "cluster", "sentinel", "waitForReplicas", "prefix"]),
  postgres: new Set([...SHARED, "postgres", "ledger"]),
};

/**
 * The store type a section means: `type` when the file names one; else the scheme of `url`
 * (postgres:// postgresql:// → postgres, redis:// rediss:// → redis); else sqlite. Undefined
 * when `type` or `url` is not one payguard knows (their own checks report that).
 */
export function resolveStoreType(store: { type?: unknown; url?: unknown }): { type: StoreType; from: StoreTypeOrigin } | undefined {
  if (store.type !== undefined) return STORE_TYPES.includes(store.type as StoreType) ? { type: store.type as StoreType, from: "type" } : undefined;
  if (store.url === undefined) return { type: "sqlite", from: "default" };
  if (typeof store.url !== "string") return undefined;
  if (/^postgres(ql)?:\/\//.test(store.url)) return { type: "postgres", from: "url" };
  if (/^rediss?:\/\//.test(store.url)) return { type: "redis", from: "url" };
  return undefined;
}

export interface StoreKeyProblem {
  /** under `store` */
  path: string[];
  message: string;
}

/**
 * Every key of a store section (as the file wrote it: no defaults filled in) that its type
 * does not use, at its own path — a section's keys one by one — and every key another key
 * overrides (a URL beside the nodes that replace it).
 */
export function storeKeyProblems(given: Record<string, unknown>): StoreKeyProblem[] {
  const resolved = resolveStoreType(given);
  if (!resolved) return [];
  const { type, from } = resolved;
  const named = `store.type ${type}${from === "default" ? " (the default)" : from === "url" ? " (from store.url)" : ""}`;
  const problems: StoreKeyProblem[] = [];
  for (const [key, value] of Object.entries(given)) {
    if (key === "type" || value === undefined || USES[type].has(key)) continue;
    const users = STORE_TYPES.filter((t) => USES[t].has(key)).join(", ");
    const hint = key === "waitForReplicas" && type === "postgres" ? " (PostgreSQL: synchronous replication, see docs)" : "";
    for (const path of leaves(key, value)) problems.push({ path, message: `is not used by ${named}, only by ${users}${hint}` });
  }
  return [...problems, ...overridden(given, type)];
}

/** A section's keys, each at its path; a scalar (or an empty section) at its own. */
function leaves(key: string, value: unknown): string[][] {
  const inner = isObject(value) ? Object.keys(value).filter((k) => value[k] !== undefined) : [];
  return inner.length > 0 ? inner.map((k) => [key, k]) : [[key]];
}

/** Keys the type reads only when another key is absent: nodes replace the URL, Sentinel replaces Cluster. */
function overridden(given: Record<string, unknown>, type: StoreType): StoreKeyProblem[] {
  const hasNodes = (section: unknown) => isObject(section) && Array.isArray(section.nodes) && section.nodes.length > 0;
  if (type === "postgres" && given.url !== undefined && hasNodes(given.postgres)) {
    return [{ path: ["url"], message: "is not used when store.postgres.nodes is set (list every node there)" }];
  }
  if (type !== "redis") return [];
  const [sentinel, cluster] = [hasNodes(given.sentinel), hasNodes(given.cluster)];
  const problems: StoreKeyProblem[] = [];
  if (given.url !== undefined && (sentinel || cluster)) {
    problems.push({ path: ["url"], message: `is not used when store.${sentinel ? "sentinel" : "cluster"}.nodes is set (the nodes' URLs are)` });
  }
  if (sentinel && cluster) problems.push({ path: ["cluster", "nodes"], message: "is not used when store.sentinel.nodes is set: name one topology" });
  return problems;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
