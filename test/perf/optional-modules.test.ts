/**
 * Optional modules load only when the config asks for them:
 * - A SQLite or memory-store payguard does not load the Redis and PostgreSQL clients: their
 *   modules are a few MB of live heap that every full collection would mark for nothing
 *   (docs/performance.md#body-size). A Redis-store payguard is the control: the probe sees its
 *   client, so an empty answer is not the probe failing.
 * - With `tracing.enabled: false` (the default) no OpenTelemetry SDK module is loaded; with
 *   tracing on (the control) it is. The one exception is `@opentelemetry/api`, the API alone
 *   (no SDK, no exporter): prom-client's process CPU metric requires it unconditionally, and
 *   did before payguard had traces.
 */
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";

const PROBE = new URL("../support/module-probe.mjs", import.meta.url).pathname;
const CLIENTS = /node_modules\/(pg|@redis\/client)\//;
const OTEL = /node_modules\/(@opentelemetry\/[^/]+)\//;

/**
 * The packages matching `pattern` that payguard loaded with this config (`extra` YAML, given
 * `dir`, a fresh directory for its files), from start to a clean exit.
 */
async function loaded(pattern: RegExp, extra: (dir: string) => string): Promise<string[]> {
  const file = join(tmpdir(), `payguard-modules-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const dir = join(tmpdir(), `payguard-modules-store-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const config = writeTempConfig(testConfigYaml("http://127.0.0.1:9", extra(dir)));
  try {
    const child = await startChild(config, { MODULE_PROBE_FILE: file }, ["--import", PROBE]);
    child.proc.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const files = readFileSync(file, "utf8").split("\n");
    return [...new Set(files.map((f) => f.match(pattern)?.[1]).filter((m): m is string => m !== undefined))].sort();
  } finally {
    rmSync(file, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

const clientsLoaded = (store: (dir: string) => string) => loaded(CLIENTS, (dir) => `store: { ${store(dir)} }`);

describe("store clients load only when the config asks for them", () => {
  it("sqlite and memory: neither pg nor the Redis client", async () => {
    expect(await clientsLoaded((dir) => `type: sqlite, path: "${dir}/p.db"`)).toEqual([]);
    expect(await clientsLoaded(() => "type: memory")).toEqual([]);
  });

  it("redis (the control): the Redis client, not pg", async () => {
    expect(await clientsLoaded((dir) => `type: redis, url: "redis://127.0.0.1:6379", journal: { dir: "${dir}/journal" }`)).toEqual(["@redis/client"]);
  });
});

describe("OpenTelemetry loads only when tracing is on", () => {
  it("tracing off (the default): no OpenTelemetry SDK module (the API alone, which prom-client loads)", async () => {
    expect(await loaded(OTEL, () => "")).toEqual(["@opentelemetry/api"]);
  });

  it("tracing on (the control): the SDK and the OTLP exporter", async () => {
    // the collector's address is never reached: the process exits before its first export
    const modules = await loaded(OTEL, () => 'tracing: { enabled: true, endpoint: "http://127.0.0.1:9/v1/traces" }');
    expect(modules).toEqual(expect.arrayContaining(["@opentelemetry/api", "@opentelemetry/sdk-trace", "@opentelemetry/exporter-trace-otlp-http"]));
  });
});
