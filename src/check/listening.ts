/**
 * What the `listening` log line says runs besides the listeners' URLs: the store named as
 * itself, and each gateway with its profile. Never a URL: a store's may carry a password.
 */
import type { Config } from "../config/schema.js";
import { hostOf } from "./redact.js";

export interface RunningFields {
  /** the store type; SQLite's file, or the hosts a shared store is reached at */
  store: { type: Config["store"]["type"]; path?: string; hosts?: string[] };
  /** each gateway's profile, by gateway name ("default" with the `upstream:` shorthand) */
  profiles: Record<string, string>;
}

export function runningFields(config: Config): RunningFields {
  return {
    store: storeFields(config.store),
    profiles: Object.fromEntries(config.gateways.map((g) => [g.name, g.config.upstream.gateway])),
  };
}

function storeFields(store: Config["store"]): RunningFields["store"] {
  switch (store.type) {
    case "memory":
      return { type: "memory" };
    case "sqlite":
      return { type: "sqlite", path: store.path };
    case "postgres":
      return { type: "postgres", hosts: (store.postgres.nodes.length > 0 ? store.postgres.nodes : [store.url]).map(hostOf) };
    case "redis":
      return { type: "redis", hosts: redisNodes(store).map(hostOf) };
  }
}

/** The URLs payguard reaches Redis by: Sentinel's nodes, else Cluster's seeds, else store.url. */
function redisNodes(store: Config["store"]): string[] {
  if (store.sentinel.nodes.length > 0) return store.sentinel.nodes;
  if (store.cluster.nodes.length > 0) return store.cluster.nodes;
  return [store.url];
}
