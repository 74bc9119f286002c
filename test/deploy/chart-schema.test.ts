/**
 * values.schema.json: generated from payguard's zod config schema (never edited by hand), and
 * it accepts every shipped values file while rejecting wrong types and unknown keys.
 */
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderValuesSchema } from "../../scripts/gen-chart-schema.js";
import { parseConfig } from "../../src/config/load.js";
import { CHART, read, type Values, valuesFiles, yamlFile } from "./chart.js";
import { one, renderChart } from "./helm.js";

const schemaText = read(`${CHART}values.schema.json`);
const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(JSON.parse(schemaText) as object);
const base = () => yamlFile<Values>(`${CHART}values.yaml`);
/** env for ${VAR} interpolation, as the container gets it from secretKeyRef */
const ENV = { REDIS_PASSWORD: "from-secret", PAYGUARD_STORE_KEY: "" };

function errorsOf(values: unknown): string[] {
  return validate(values) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

describe("values.schema.json", () => {
  it("is exactly what scripts/gen-chart-schema.ts generates from the zod config schema", () => {
    expect(schemaText).toBe(renderValuesSchema());
  });

  it("is draft-07 and closes the config section", () => {
    const schema = JSON.parse(schemaText) as { $schema: string; properties: { config: { additionalProperties: boolean; properties: object } } };
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.properties.config.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties.config.properties)).toEqual(expect.arrayContaining(["server", "admin", "upstream", "store", "routes", "idempotency"]));
  });

  it.each(valuesFiles().map((f) => [f.slice(CHART.length), f]))("accepts %s", (_name, file) => {
    expect(errorsOf(yamlFile(file))).toEqual([]);
  });

  it.each([
    ["config.server.port as a word", (v: Values) => ((v.config.server as Record<string, unknown>).port = "eighty")],
    ["config.store.type outside its enum", (v: Values) => ((v.config.store as Record<string, unknown>).type = "etcd")],
    ["config.upstream without url", (v: Values) => delete (v.config.upstream as Record<string, unknown>).url],
    ["replicaCount as a string", (v: Values) => (v.replicaCount = "two")],
    ["mode outside its enum", (v: Values) => (v.mode = "daemonset")],
    [
      "config.store.encryption.key that is no key (review finding)",
      (v: Values) => ((v.config.store as Record<string, unknown>).encryption = { key: "not-a-key" }),
    ],
  ])("rejects a wrong type or value: %s", (_name, mutate) => {
    const values = base();
    mutate(values);
    expect(errorsOf(values)).not.toEqual([]);
  });

  it.each([
    ["a ${VAR} reference", "${PAYGUARD_STORE_KEY:-}"],
    ["a key", Buffer.alloc(32, 1).toString("base64")],
    ["two keys, the first encrypting", `${Buffer.alloc(32, 1).toString("base64")},${Buffer.alloc(32, 2).toString("base64")}`],
  ])("accepts config.store.encryption.key as %s", (_name, key) => {
    const values = base();
    (values.config.store as Record<string, unknown>).encryption = { key };
    expect(errorsOf(values)).toEqual([]);
  });

  it.each([
    ["a typo in config.store", (v: Values) => ((v.config.store as Record<string, unknown>).tyep = "redis")],
    ["an unknown config section", (v: Values) => (v.config.cache = { size: 1 })],
    ["a typo deep in config", (v: Values) => (v.config.resilience = { retry: { maxAtempts: 2 } })],
    ["an unknown top-level value", (v: Values) => (v.replicas = 3)],
    ["a clear-text secret value", (v: Values) => ((v.secrets as Record<string, Record<string, unknown>>).redisPassword = { value: "hunter2" })],
  ])("rejects an unknown key: %s", (_name, mutate) => {
    const values = base();
    mutate(values);
    expect(errorsOf(values).some((e) => e.includes("additionalProperty"))).toBe(true);
  });
});

describe("the config section of every values file", () => {
  it.each(valuesFiles().map((f) => [f.slice(CHART.length), f]))("is a valid payguard config: %s", (_name, file) => {
    const values = yamlFile<Values>(file);
    // exactly what the ConfigMap holds: toYaml .Values.config
    expect(() => parseConfig(stringify(values.config), ENV, file)).not.toThrow();
  });

  it.each(valuesFiles().map((f) => [f.slice(CHART.length), f]))(
    "is a valid payguard config as Helm renders it, coalesced over values.yaml (no store key of another type): %s",
    (_name, file) => {
      // The values as the Go renderer coalesced them (helm.ts): what helm validates against the schema.
      const rendered = renderChart({ files: [file] });
      expect(errorsOf(rendered.values)).toEqual([]);
      // what payguard reads: the ConfigMap's payguard.yaml (under gateways, without the chart's default upstream)
      const configYaml = (one(rendered, "ConfigMap", "release-payguard-config").data as Record<string, string>)["payguard.yaml"] as string;
      expect(() => parseConfig(configYaml, ENV, file)).not.toThrow();
    },
  );

  it.each(valuesFiles().map((f) => [f.slice(CHART.length), f]))(
    "gives a grace period longer than readinessDelay + drainTimeout + settleTimeout: %s",
    (_name, file) => {
      const values = { ...base(), ...yamlFile<Values>(file) };
      const { shutdown } = parseConfig(stringify(values.config), ENV, file);
      expect((values.terminationGracePeriodSeconds ?? 0) * 1000).toBeGreaterThan(shutdown.readinessDelay + shutdown.drainTimeout + shutdown.settleTimeout);
    },
  );

  it("reads secrets only through ${VAR} interpolation, never in clear", () => {
    for (const file of valuesFiles()) {
      const config = stringify(yamlFile<Values>(file).config);
      for (const url of config.match(/rediss?:\/\/[^\s"']+/g) ?? []) expect(url).not.toMatch(/:\/\/[^@]*:(?!\$\{)[^@]+@/);
      expect(config).not.toMatch(/key:\s*["']?[A-Za-z0-9+/]{43}=/);
    }
  });
});
