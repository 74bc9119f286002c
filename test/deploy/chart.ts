/** Paths and readers for the deploy tests: the chart, its plain files, and the Dockerfile. */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CHART = `${ROOT}charts/payguard/`;

export const read = (path: string): string => readFileSync(path, "utf8");

/** Parses YAML strictly: any syntax error throws. */
export function yamlDocs(path: string): unknown[] {
  const docs = parseAllDocuments(read(path), { uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
  return docs.map((d) => d.toJS());
}

export function yamlFile<T = Record<string, unknown>>(path: string): T {
  return parseYaml(read(path), { uniqueKeys: true }) as T;
}

/** Chart files that are plain YAML/JSON (everything except Go-templated templates/). */
export function plainChartFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? (e.name === "templates" ? [] : walk(`${dir}${e.name}/`)) : [`${dir}${e.name}`],
    );
  return walk(CHART).filter((f) => /\.(ya?ml|json)$/.test(f));
}

/** values.yaml and every example values file. */
export function valuesFiles(): string[] {
  return [
    `${CHART}values.yaml`,
    ...readdirSync(`${CHART}examples`)
      .filter((f) => f.endsWith("-values.yaml"))
      .map((f) => `${CHART}examples/${f}`),
  ];
}

export type Values = { config: Record<string, unknown>; terminationGracePeriodSeconds?: number } & Record<string, unknown>;
