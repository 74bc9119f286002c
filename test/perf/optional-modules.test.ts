/**
 * A SQLite or memory-store payguard does not load the Redis and PostgreSQL clients: their
 * modules are a few MB of live heap that every full collection would mark for nothing
 * (docs/performance.md#body-size). A Redis-store payguard is the control: the probe sees
 * its client, so an empty answer is not the probe failing.
 */
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";

const PROBE = new URL("../support/module-probe.mjs", import.meta.url).pathname;
const CLIENTS = /node_modules\/(pg|@redis\/client)\//;

/**
 * The store clients payguard loaded with this `store:` block, from start to a clean exit.
 * `store` gets `dir`, a fresh directory for its files.
 */
async function clientsLoaded(store: (dir: string) => string): Promise<string[]> {
  const file = join(tmpdir(), `payguard-modules-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const dir = join(tmpdir(), `payguard-modules-store-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const config = writeTempConfig(testConfigYaml("http://127.0.0.1:9", `store: { ${store(dir)} }`));
  try {
    const child = await startChild(config, { MODULE_PROBE_FILE: file }, ["--import", PROBE]);
    child.proc.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const files = readFileSync(file, "utf8").split("\n");
    return [...new Set(files.map((f) => f.match(CLIENTS)?.[1]).filter((m): m is string => m !== undefined))].sort();
  } finally {
    rmSync(file, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("store clients load only when the config asks for them", () => {
  it("sqlite and memory: neither pg nor the Redis client", async () => {
    expect(await clientsLoaded((dir) => `type: sqlite, path: "${dir}/p.db"`)).toEqual([]);
    expect(await clientsLoaded(() => "type: memory")).toEqual([]);
  });

  it("redis (the control): the Redis client, not pg", async () => {
    expect(await clientsLoaded((dir) => `type: redis, url: "redis://127.0.0.1:6379", journal: { dir: "${dir}/journal" }`)).toEqual(["@redis/client"]);
  });
});
