/**
 * The chart's plain files parse and document themselves. The templates are checked on what
 * they render, by a Go template engine (chart-render.test.ts).
 */
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CHART, plainChartFiles, read, yamlDocs, yamlFile } from "./chart.js";

describe("plain chart files", () => {
  it.each(plainChartFiles().map((f) => [f.slice(CHART.length), f]))("%s parses", (_name, file) => {
    if (file.endsWith(".json")) expect(() => JSON.parse(read(file))).not.toThrow();
    else expect(yamlDocs(file).length).toBeGreaterThan(0);
  });

  it("Chart.yaml is a Helm 3 application chart", () => {
    const chart = yamlFile(`${CHART}Chart.yaml`);
    expect(chart).toMatchObject({ apiVersion: "v2", name: "payguard", type: "application" });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(chart.appVersion).toBe(yamlFile(`${CHART}../../package.json`).version);
  });

  it("has every template the issue asks for", () => {
    const names = readdirSync(`${CHART}templates`);
    for (const t of [
      "_helpers.tpl",
      "configmap.yaml",
      "deployment.yaml",
      "statefulset.yaml",
      "service.yaml",
      "pdb.yaml",
      "hpa.yaml",
      "servicemonitor.yaml",
      "prometheusrule.yaml",
      "dashboard-configmap.yaml",
      "NOTES.txt",
    ]) {
      expect(names).toContain(t);
    }
  });

  it("values.yaml documents every top-level field with a comment above it or on its line", () => {
    const lines = read(`${CHART}values.yaml`).split("\n");
    const undocumented = lines.filter(
      (line, i) => /^\w+:/.test(line) && !line.includes("#") && !lines[i - 1]?.startsWith("#") && !/^\w+:/.test(lines[i - 1] ?? ""),
    );
    expect(undocumented).toEqual([]);
  });
});

describe("templates", () => {
  // Everything else about the templates is checked on what they render (chart-render.test.ts).
  it("define the named templates a parent chart calls for the sidecar", () => {
    const helpers = read(`${CHART}templates/_helpers.tpl`);
    expect(helpers).toContain('{{- define "payguard.sidecar" -}}');
    expect(helpers).toContain('{{- define "payguard.sidecarVolumes" -}}');
  });
});
