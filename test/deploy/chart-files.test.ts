/**
 * The chart's plain files parse, and the Go-templated ones (which helm would render; no helm
 * here) have the structure the deploy contract needs, checked textually.
 */
import { existsSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CHART, plainChartFiles, read, type Values, valuesFiles, yamlDocs, yamlFile } from "./chart.js";

const template = (name: string) => read(`${CHART}templates/${name}`);
const helpers = template("_helpers.tpl");
const values = yamlFile<Values>(`${CHART}values.yaml`);

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

describe("templates (textual)", () => {
  it("the ConfigMap renders the config section as payguard.yaml", () => {
    expect(template("configmap.yaml")).toMatch(/payguard\.yaml: \|\n\s+\{\{- toYaml \.Values\.config \| nindent 4 \}\}/);
  });

  it("the Deployment restarts pods when the config changes (checksum annotation)", () => {
    expect(template("deployment.yaml")).toMatch(/checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\) \. \| sha256sum \}\}/);
  });

  it("probes hit /healthz and /readyz on the admin port", () => {
    expect(helpers).toMatch(/livenessProbe:\s+httpGet:\s+path: \/healthz\s+port: admin/);
    expect(helpers).toMatch(/readinessProbe:\s+httpGet:\s+path: \/readyz\s+port: admin/);
    expect(helpers).toMatch(/- name: admin\s+containerPort: \{\{ include "payguard\.adminPort" \. \}\}/);
  });

  it("secrets come only from secretKeyRef into REDIS_PASSWORD and PAYGUARD_STORE_KEY", () => {
    expect(helpers).toMatch(/- name: REDIS_PASSWORD\s+valueFrom:\s+secretKeyRef:/);
    expect(helpers).toMatch(/- name: PAYGUARD_STORE_KEY\s+valueFrom:\s+secretKeyRef:/);
    const all = readdirSync(`${CHART}templates`).map(template).join("\n");
    expect(all).not.toMatch(/kind: Secret\b/);
  });

  it("security defaults: non-root, read-only root filesystem, no capabilities, no privilege escalation", () => {
    const values = yamlFile<{ securityContext: Record<string, unknown>; podSecurityContext: Record<string, unknown> }>(`${CHART}values.yaml`);
    expect(values.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(helpers).toMatch(/securityContext:\n\s+\{\{- toYaml \.Values\.securityContext/);
    expect(template("deployment.yaml")).toMatch(/securityContext:\n\s+\{\{- toYaml \.Values\.podSecurityContext/);
  });

  it("the data volume (sqlite file, journal) is an emptyDir or an existing PVC, mounted at /var/lib/payguard", () => {
    expect(helpers).toContain('{{- define "payguard.dataDir" -}}/var/lib/payguard{{- end -}}');
    expect(helpers).toMatch(/- name: payguard-data\n\s+mountPath: \{\{ include "payguard\.dataDir" \. \}\}/);
    expect(helpers).toMatch(/persistentVolumeClaim:\s+claimName: \{\{ \.Values\.persistence\.existingClaim \}\}/);
    expect(helpers).toMatch(/emptyDir:\s+sizeLimit: \{\{ \.Values\.persistence\.sizeLimit \}\}/);
    // sqlite's file at its default, on the data volume: values.yaml leaves store.path out, so it is
    // never merged into a redis or postgres store, which does not use it.
    expect(values.config.store).toEqual({ type: "sqlite" });
    expect(helpers).toContain('$path := dig "store" "path" "/var/lib/payguard/payguard.db" .Values.config');
  });

  it("standalone refuses several pods with a store of their own; sqlite gets the Recreate strategy", () => {
    const validate = helpers.slice(helpers.indexOf('{{- define "payguard.validate" -}}'));
    expect(validate).toMatch(/\$perPod := has \$type \(list "memory" "sqlite"\)/);
    expect(validate).toMatch(/\$several := or \(dig "autoscaling" "enabled" false \.Values\) \(gt \(int \.Values\.replicaCount\) 1\)/);
    expect(validate).toMatch(/if and \(eq \.Values\.mode "standalone"\) \$perPod \$several -\}\}\n\{\{- fail/);
    expect(validate).toMatch(/not \(hasPrefix \$data \$path\)\) -\}\}\n\{\{- fail/);
    expect(helpers).toContain('{{- define "payguard.storeType" -}}{{ dig "store" "type" "sqlite" .Values.config }}{{- end -}}');
    const deployment = template("deployment.yaml");
    expect(deployment).toMatch(/^\{\{- if eq \.Values\.mode "standalone" \}\}\n\{\{- include "payguard\.validate" \. \}\}/);
    expect(deployment).toMatch(/if eq \(include "payguard\.storeType" \.\) "sqlite" \}\}[\s\S]*strategy:\n\s+type: Recreate/);
    expect(values.replicaCount).toBe(1);
  });

  it("every values file shipped passes the template's rule (the same rule, in JS)", () => {
    for (const file of valuesFiles()) {
      const v = { ...values, ...yamlFile<Values>(file) } as Values & { mode: string; replicaCount: number; autoscaling?: { enabled?: boolean } };
      const type = ((v.config.store as { type?: string } | undefined)?.type ?? "sqlite") as string;
      const several = v.autoscaling?.enabled === true || v.replicaCount > 1;
      expect(v.mode === "standalone" && ["memory", "sqlite"].includes(type) && several, file).toBe(false);
    }
  });

  it("the pod names itself in the ledger: PAYGUARD_REPLICA from the downward API", () => {
    expect(helpers).toMatch(/- name: PAYGUARD_REPLICA\n\s+valueFrom:\n\s+fieldRef:\n\s+fieldPath: metadata\.name/);
  });

  it("standalone resources are gated on mode; HPA, ServiceMonitor, rules and dashboard are optional", () => {
    for (const t of ["deployment.yaml", "service.yaml", "pdb.yaml", "hpa.yaml", "servicemonitor.yaml"])
      expect(template(t)).toMatch(/^\{\{- if .*eq \.Values\.mode "standalone"/);
    expect(template("hpa.yaml")).toContain(".Values.autoscaling.enabled");
    expect(template("servicemonitor.yaml")).toContain(".Values.serviceMonitor.enabled");
    expect(template("prometheusrule.yaml")).toMatch(/\.Values\.prometheusRule\.enabled[\s\S]*\.Files\.Get "files\/payguard-alerts\.yaml"/);
    expect(template("dashboard-configmap.yaml")).toMatch(/\.Values\.dashboard\.enabled[\s\S]*\.Files\.Get "files\/payguard-dashboard\.json"/);
    for (const f of ["files/payguard-alerts.yaml", "files/payguard-dashboard.json"]) expect(existsSync(`${CHART}${f}`)).toBe(true);
  });

  it("the Deployment has resources, topology spread and the grace period", () => {
    const deployment = template("deployment.yaml");
    expect(deployment).toContain("terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}");
    expect(deployment).toMatch(/topologySpreadConstraints:[\s\S]*topologyKey: kubernetes\.io\/hostname/);
    expect(helpers).toContain("{{- toYaml .Values.resources | nindent 4 }}");
  });

  it("defines the sidecar templates, and NOTES explain how to reach payguard and its metrics", () => {
    expect(helpers).toContain('{{- define "payguard.sidecar" -}}');
    expect(helpers).toContain('{{- define "payguard.sidecarVolumes" -}}');
    const notes = template("NOTES.txt");
    expect(notes).toContain("GATEWAY_BASE_URL=http://localhost:");
    expect(notes).toMatch(/GATEWAY_BASE_URL=http:\/\/\{\{ include "payguard\.fullname" \. \}\}/);
    expect(notes).toContain("/metrics");
  });
});
