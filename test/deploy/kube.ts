/**
 * Rendered objects checked against the Kubernetes OpenAPI schemas, twice over, both from
 * kubernetes-models (generated from the Kubernetes OpenAPI spec; prometheus-operator's CRDs
 * from @kubernetes-models/prometheus-operator):
 * - its validators (required fields, types, enums, formats such as int-or-string), at run time;
 * - its types, by the TypeScript compiler: the one check that catches a misspelt field (the
 *   OpenAPI schemas allow unknown fields; the API server drops or refuses them, kubectl warns),
 *   since a typed object literal may only name fields its type declares.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { CACHE, type KubeObject } from "./helm.js";

/** apiVersion/kind → the module of its model, under kubernetes-models or the CRD package. */
const MODELS: Record<string, string> = {
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "apps/v1/StatefulSet": "kubernetes-models/apps/v1/StatefulSet",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "autoscaling/v2/HorizontalPodAutoscaler": "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
  "monitoring.coreos.com/v1/ServiceMonitor": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PrometheusRule": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
};

const require = createRequire(import.meta.url);
const ROOT = new URL("../../", import.meta.url).pathname;

/** A name for messages: where the object came from, its kind and name. */
export type Labelled = KubeObject & { label: string };

function modelOf(o: KubeObject): string | undefined {
  return MODELS[`${o.apiVersion}/${o.kind}`];
}

/** Every schema violation of every object, as "label: message"; a kind the chart should not render is one too. */
export function schemaErrors(objects: Labelled[]): string[] {
  return objects.flatMap((o) => {
    const module = modelOf(o);
    if (!module) return [`${o.label}: ${o.apiVersion} ${o.kind} is not a kind this check knows`];
    const Model = (require(module) as Record<string, new (data: unknown) => { validate(): void }>)[o.kind];
    if (!Model) return [`${o.label}: ${module} exports no ${o.kind}`];
    const { label: _label, template: _template, ...data } = o as Labelled & { template?: string };
    try {
      new Model(data).validate();
      return [];
    } catch (err) {
      return [`${o.label}: ${(err as Error).message}`];
    }
  });
}

/**
 * Every field no schema declares (and every type error), from one compiler run over all the
 * objects: each is written as a typed constant on a line of its own, and the compiler's
 * messages are mapped back to the object by line.
 */
export function unknownFieldErrors(objects: Labelled[]): string[] {
  const known = objects.filter((o) => modelOf(o));
  if (known.length === 0) return [];
  const types = [...new Set(known.map(modelOf))] as string[];
  const imports = types.map((m, i) => `import type { I${m.split("/").pop()} as T${i} } from "${m}";`);
  const body = known.map((o) => {
    const { label: _label, template: _template, ...data } = o as Labelled & { template?: string };
    return `export const o${known.indexOf(o)}: T${types.indexOf(modelOf(o) as string)} = ${JSON.stringify(data)};`;
  });
  mkdirSync(CACHE, { recursive: true });
  const file = join(CACHE, `objects-${process.pid}.ts`);
  writeFileSync(file, [...imports, ...body].join("\n"));
  const first = imports.length + 1;
  return compilerErrors(file).map(({ line, message }) => {
    const object = known[line - first];
    return `${object ? object.label : `line ${line}`}: ${message}`;
  });
}

function compilerErrors(file: string): { line: number; message: string }[] {
  const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
  const args = ["--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", file];
  try {
    execFileSync(process.execPath, [tsc, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return [];
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? err);
    const lines = out.split("\n").filter((l) => /\(\d+,\d+\): error/.test(l));
    if (lines.length === 0) throw err;
    return lines.map((l) => {
      const m = /\((\d+),\d+\): error (TS\d+: .*)$/.exec(l);
      return { line: Number(m?.[1]), message: (m?.[2] ?? l).slice(0, 300) };
    });
  }
}
