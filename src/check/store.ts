/**
 * The store as check prints it: every type named as itself with its settings; a URL only
 * without its password (redact.ts), the encryption key never.
 */
import type { Config } from "../config/schema.js";
import type { StoreTypeOrigin } from "../config/store-keys.js";
import { formatDuration, formatSize } from "../config/units.js";
import { redactUrl } from "./redact.js";

type Store = Config["store"];

/** The store line, and how its type was chosen when the file did not name it. */
export function describeStore(store: Store, origin: StoreTypeOrigin): string[] {
  const chosen =
    origin === "url"
      ? [`            store.type ${store.type}: inferred from the scheme of store.url (the file names no type)`]
      : origin === "default"
        ? [`            store.type ${store.type}: the default (the file names no type)`]
        : [];
  return [`  store     ${storeLine(store)}`, ...chosen];
}

function storeLine(store: Store): string {
  switch (store.type) {
    case "memory":
      return `memory, ${store.maxEntries} entries, ${formatSize(store.maxSize)} (forgotten at a restart)`;
    case "sqlite":
      return `sqlite ${store.path} (synchronous ${store.synchronous}), ledger kept ${formatDuration(store.ledger.retention)}, ${encryption(store)}`;
    case "postgres":
      return `postgres ${postgresWhere(store)}, schema ${store.postgres.schema}, pool ${store.postgres.poolSize}, ledger kept ${formatDuration(store.ledger.retention)}, ${shared(store)}`;
    case "redis":
      return `redis ${redisWhere(store)}, prefix ${store.prefix}${replicas(store)}, ${shared(store)}`;
  }
}

function postgresWhere(store: Store): string {
  const { nodes } = store.postgres;
  if (nodes.length === 0) return redactUrl(store.url);
  return `nodes ${nodes.map(redactUrl).join(" ")} (the writable one)`;
}

function redisWhere(store: Store): string {
  const { sentinel, cluster } = store;
  if (sentinel.nodes.length > 0) return `sentinel ${sentinel.name} via ${sentinel.nodes.map(redactUrl).join(" ")}`;
  if (cluster.nodes.length > 0) return `cluster, seed nodes ${cluster.nodes.map(redactUrl).join(" ")}`;
  return redactUrl(store.url);
}

function replicas(store: Store): string {
  const { replicas: n, timeout } = store.waitForReplicas;
  return n > 0 ? `, writes wait for ${n} replica${n === 1 ? "" : "s"} (WAIT ${formatDuration(timeout)})` : "";
}

/** What both shared stores (redis, postgres) read besides where they are. */
function shared(store: Store): string {
  const { journal } = store;
  const ready = store.readiness ? "" : ", /readyz ignores it";
  return `timeout ${formatDuration(store.operationTimeout)}, when down: ${store.onUnavailable}${ready}, journal ${journal.dir}${journal.fsync ? " (fsync)" : ""}, ${encryption(store)}`;
}

function encryption(store: Store): string {
  return `encryption ${store.encryption.key ? "on" : "off"}`;
}

/**
 * Whether records written by a payguard from before gateway profiles can be in this store:
 * only in Redis. The SQLite and PostgreSQL stores came after the profiles (and after their
 * last change of a scope), so every record they hold already has a profile's id; memory
 * forgets at a restart. Check does not connect to Redis: its note says "if".
 */
export function mayHoldPreProfileRecords(store: Store): boolean {
  return store.type === "redis";
}
