/**
 * The chart rendered as `helm template` renders it: by helm-render/main.go — Go's
 * text/template with sprig and helm's own functions — built once per test process from
 * Debian's Go toolchain (GOPATH mode, no module download; .ci/run installs it).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { CHART } from "./chart.js";

const SOURCE = new URL("./helm-render/main.go", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;
/** Inside node_modules: ignored by git, and where a type check of the objects resolves kubernetes-models. */
export const CACHE = join(ROOT, "node_modules/.cache/payguard-chart");
const GOPATH = "/usr/share/gocode";

/** A Kubernetes object as rendered. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface Rendered {
  /** the values the templates saw: values.yaml with every file coalesced over it */
  values: Record<string, unknown>;
  /** every object of every template, in template order, with the template it came from */
  objects: (KubeObject & { template: string })[];
  notes: string;
}

let binary: string | undefined;

/** The renderer, built from its source (cached by the source's hash). */
function renderer(): string {
  if (binary) return binary;
  const source = readFileSync(SOURCE);
  const path = join(CACHE, `helm-render-${createHash("sha256").update(source).digest("hex").slice(0, 16)}`);
  if (!existsSync(path)) {
    mkdirSync(CACHE, { recursive: true });
    execFileSync("go", ["build", "-o", path, SOURCE], {
      env: { ...process.env, GOPATH, GO111MODULE: "off", GOCACHE: join(CACHE, "go-build") },
      stdio: ["ignore", "ignore", "pipe"],
    });
  }
  binary = path;
  return path;
}

/** Thrown when the chart does not render: `message` is the renderer's error, as helm prints it. */
export class RenderError extends Error {}

let written = 0;

/**
 * Renders the chart with these values files and value overlays (each written to a file and
 * passed after them, later wins) — what `helm template release charts/payguard -f … -f …` does.
 */
export function renderChart(options: { files?: string[]; values?: object[]; templates?: Record<string, string>; release?: string } = {}): Rendered {
  const overlays = (options.values ?? []).map((v) => {
    mkdirSync(CACHE, { recursive: true });
    const file = join(CACHE, `values-${process.pid}-${++written}.json`);
    writeFileSync(file, JSON.stringify(v));
    return file;
  });
  const args = ["-chart", withTemplates(options.templates), "-name", options.release ?? "release", "-namespace", "payments"];
  for (const f of [...(options.files ?? []), ...overlays]) args.push("-f", f);
  const run = spawnSync(renderer(), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new RenderError(run.stderr.trim() || `helm-render exited ${run.status}`);
  const out = JSON.parse(run.stdout) as { values: Record<string, unknown>; files: { name: string; content: string }[] };
  return {
    values: out.values,
    objects: out.files.filter((f) => !f.name.endsWith("NOTES.txt")).flatMap((f) => objectsOf(f.name, f.content)),
    notes: out.files.find((f) => f.name.endsWith("NOTES.txt"))?.content ?? "",
  };
}

/**
 * The chart, or a copy of it with `templates` added (name → source): how a parent chart's own
 * template that includes payguard's named templates renders (the sidecar's pod).
 */
function withTemplates(templates: Record<string, string> | undefined): string {
  if (!templates) return CHART;
  const dir = join(CACHE, `chart-${process.pid}-${++written}/`);
  cpSync(CHART, dir, { recursive: true });
  for (const [name, source] of Object.entries(templates)) writeFileSync(join(dir, "templates", name), source);
  return dir;
}

/** The YAML documents of one rendered template; an unparsable one is an error, as for kubectl. */
function objectsOf(template: string, content: string): (KubeObject & { template: string })[] {
  return parseAllDocuments(content).flatMap((doc) => {
    if (doc.errors.length > 0) throw new RenderError(`${template}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
    const object = doc.toJS() as KubeObject | null;
    return object === null ? [] : [{ ...object, template }];
  });
}

/** The one object of this kind (and name, if given); throws when there is none or several. */
export function one(rendered: Rendered, kind: string, name?: string): KubeObject {
  const found = rendered.objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, rendered ${found.length}`);
  return found[0] as KubeObject;
}
