/**
 * The chart as a cluster gets it: rendered by a real Go template engine with helm's functions
 * (helm.ts) — the defaults, every example, and a matrix of modes × stores × persistence ×
 * autoscaling — every object checked against the Kubernetes schemas (kube.ts), and the
 * properties a Kubernetes engineer expects of each render: a drain never blocked, records on a
 * volume that outlives the pod where they must survive, Recreate only for a ReadWriteOnce
 * claim, and payguard's own config accepted.
 */
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { CHART, valuesFiles } from "./chart.js";
import { type KubeObject, one, RenderError, type Rendered, renderChart } from "./helm.js";
import { type Labelled, schemaErrors, unknownFieldErrors } from "./kube.js";

/** env for ${VAR} interpolation, as the container gets it from secretKeyRef */
const ENV = { REDIS_PASSWORD: "from-secret", PAYGUARD_STORE_KEY: "" };
const STORES = {
  sqlite: { type: "sqlite" },
  memory: { type: "memory" },
  redis: { type: "redis", url: "redis://:${REDIS_PASSWORD}@redis-master:6379" },
  postgres: { type: "postgres", url: "postgres://payguard@postgres:5432/payments" },
} as const;
type Store = keyof typeof STORES;
const PER_POD: Store[] = ["sqlite", "memory"];

interface Case {
  name: string;
  files?: string[];
  values?: object[];
  /** the matrix's cells; undefined for the defaults and the examples */
  cell?: { mode: "standalone" | "sidecar"; store: Store; persistence: boolean; autoscaling: boolean };
}

const matrix: Case[] = (["standalone", "sidecar"] as const).flatMap((mode) =>
  (Object.keys(STORES) as Store[]).flatMap((store) =>
    [true, false].flatMap((persistence) =>
      [true, false].map((autoscaling) => ({
        name: `${mode} ${store} persistence=${persistence} autoscaling=${autoscaling}`,
        values: [{ mode, config: { store: STORES[store] }, persistence: { enabled: persistence }, autoscaling: { enabled: autoscaling } }],
        cell: { mode, store, persistence, autoscaling },
      })),
    ),
  ),
);
const examples: Case[] = valuesFiles()
  .filter((f) => !f.endsWith("/values.yaml"))
  .map((f) => ({ name: f.slice(CHART.length), files: [f] }));
const CASES: Case[] = [{ name: "defaults" }, ...examples, ...matrix];

/** The one cell the chart refuses: several standalone pods, each with a store of its own. */
const refused = (c: Case) => c.cell?.mode === "standalone" && PER_POD.includes(c.cell.store) && c.cell.autoscaling;

const renders = new Map<string, Rendered>();
function rendered(c: Case): Rendered {
  const r = renders.get(c.name) ?? renderChart(c);
  renders.set(c.name, r);
  return r;
}

const workload = (r: Rendered): KubeObject | undefined => r.objects.find((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
type Container = {
  name: string;
  env: { name: string; valueFrom?: Record<string, unknown> }[];
  ports: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string }[];
  livenessProbe: unknown;
  readinessProbe: unknown;
  securityContext: unknown;
  resources: unknown;
};
type PodSpec = {
  volumes?: { name: string; emptyDir?: unknown; persistentVolumeClaim?: unknown }[];
  containers: Container[];
  securityContext: unknown;
  terminationGracePeriodSeconds: number;
  topologySpreadConstraints: { topologyKey: string }[];
};
const podOf = (o: KubeObject | undefined) => {
  const template = o?.spec?.template as { metadata: { annotations: Record<string, string> }; spec: PodSpec } | undefined;
  if (!template) throw new Error(`no pod template in ${o?.kind}`);
  return template;
};
const podSpec = (o: KubeObject | undefined) => podOf(o).spec;
const replicasOf = (r: Rendered, o: KubeObject) =>
  (r.values.autoscaling as { enabled: boolean; minReplicas: number }).enabled
    ? (r.values.autoscaling as { minReplicas: number }).minReplicas
    : (o.spec?.replicas as number);

describe("the chart renders with a Go template engine, and every object is valid Kubernetes", () => {
  it.each(CASES.filter((c) => !refused(c)).map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const r = rendered(c);
    expect(r.objects.length).toBeGreaterThan(0);
    const labelled = r.objects.map((o) => ({ ...o, label: `${o.template} ${o.kind}/${o.metadata.name}` }));
    expect(schemaErrors(labelled)).toEqual([]);
    // payguard accepts the config the ConfigMap carries
    const config = one(r, "ConfigMap", "release-payguard-config").data as Record<string, string>;
    expect(() => parseConfig(config["payguard.yaml"] as string, ENV, c.name)).not.toThrow();
    expect(r.notes).toContain("payguard");
  });

  it("no field a schema does not declare, in any object of any render (one compiler run over all of them)", () => {
    const all: Labelled[] = CASES.filter((c) => !refused(c)).flatMap((c) =>
      rendered(c).objects.map((o) => ({ ...o, label: `${c.name}: ${o.template} ${o.kind}/${o.metadata.name}` })),
    );
    expect(all.length).toBeGreaterThan(60);
    expect(unknownFieldErrors(all)).toEqual([]);
  });

  it("the checks catch what they claim: a misspelt field, a wrong type, a missing required field", () => {
    const base = one(rendered({ name: "defaults" }), "Service");
    const broken: Labelled[] = [
      { ...base, spec: { ...base.spec, prots: base.spec?.ports }, label: "misspelt" },
      { ...base, spec: { ...base.spec, ports: [{ port: "eighty" }] }, label: "port as a word" },
      { ...base, spec: { ...base.spec, ports: [{ name: "http" }] }, label: "a port without its number" },
    ];
    const fields = unknownFieldErrors(broken);
    expect(fields.find((e) => e.startsWith("misspelt:"))).toMatch(/'"?prots"?' does not exist in type/);
    expect(fields.find((e) => e.startsWith("port as a word:"))).toBeDefined();
    expect(fields.find((e) => e.startsWith("a port without its number:"))).toBeDefined();
    const schema = schemaErrors(broken);
    expect(schema.find((e) => e.startsWith("port as a word:"))).toBeDefined();
    expect(schema.find((e) => e.startsWith("a port without its number:"))).toMatch(/port/);
  });
});

describe("a default install a Kubernetes engineer accepts", () => {
  const defaults = () => rendered({ name: "defaults" });

  it("keeps the SQLite file on a claim that outlives the pod: a StatefulSet with a volumeClaimTemplate, no emptyDir", () => {
    const set = one(defaults(), "StatefulSet");
    const claims = set.spec?.volumeClaimTemplates as {
      metadata: { name: string };
      spec: { accessModes: string[]; resources: { requests: { storage: string } } };
    }[];
    expect(claims.map((c) => c.metadata.name)).toEqual(["payguard-data"]);
    expect(claims[0]?.spec).toMatchObject({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } });
    expect(set.spec?.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });
    const spec = podSpec(set);
    expect(spec.volumes?.some((v) => v.name === "payguard-data")).toBe(false);
    expect(spec.containers[0]?.volumeMounts).toContainEqual({ name: "payguard-data", mountPath: "/var/lib/payguard" });
    expect(defaults().objects.some((o) => o.kind === "Deployment")).toBe(false);
  });

  it("renders no PodDisruptionBudget over its one pod (it could only block a drain), and no Recreate", () => {
    expect(defaults().objects.filter((o) => o.kind === "PodDisruptionBudget")).toEqual([]);
    expect(JSON.stringify(defaults().objects)).not.toContain("Recreate");
  });
});

describe("what holds in every render of the matrix", () => {
  const cells = matrix.filter((c) => !refused(c));

  it.each(cells.map((c) => [c.name, c] as const))("%s: a drain is never blocked; data where it must survive; Recreate only for a claim", (_name, c) => {
    const r = rendered(c);
    const cell = c.cell as NonNullable<Case["cell"]>;
    const w = workload(r);
    if (cell.mode === "sidecar") {
      expect(w).toBeUndefined();
      return;
    }
    if (!w) throw new Error("no workload rendered");
    for (const pdb of r.objects.filter((o) => o.kind === "PodDisruptionBudget")) {
      const spec = pdb.spec as { maxUnavailable?: number; minAvailable?: number };
      expect(spec.maxUnavailable !== undefined ? spec.maxUnavailable >= 1 : (spec.minAvailable ?? 0) < replicasOf(r, w)).toBe(true);
    }
    expect(w.kind).toBe(cell.persistence ? "StatefulSet" : "Deployment");
    const data = podSpec(w).volumes?.find((v) => v.name === "payguard-data");
    if (cell.persistence) expect(data).toBeUndefined();
    else expect(data?.emptyDir).toBeDefined();
    expect((w.spec?.strategy as { type?: string } | undefined)?.type).not.toBe("Recreate");
    const hpa = r.objects.find((o) => o.kind === "HorizontalPodAutoscaler");
    if (cell.autoscaling) expect(hpa?.spec?.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: w.kind, name: w.metadata.name });
    else expect(hpa).toBeUndefined();
  });

  it("an existing claim: a Deployment of one pod, with Recreate (the ReadWriteOnce volume is one pod's at a time)", () => {
    const r = renderChart({ values: [{ persistence: { existingClaim: "payguard-data" } }] });
    const d = one(r, "Deployment");
    expect(d.spec?.strategy).toEqual({ type: "Recreate" });
    expect(podSpec(d).volumes).toContainEqual({ name: "payguard-data", persistentVolumeClaim: { claimName: "payguard-data" } });
    expect(r.objects.some((o) => o.kind === "StatefulSet")).toBe(false);
  });

  it("the pods restart when the config changes: the checksum annotation follows the ConfigMap", () => {
    const checksum = (r: Rendered) => podOf(workload(r)).metadata.annotations["checksum/config"];
    const a = rendered({ name: "defaults" });
    const b = renderChart({ values: [{ config: { log: { level: "debug" } } }] });
    expect(checksum(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(b)).not.toBe(checksum(a));
  });
});

describe("the chart's guards, by rendering", () => {
  const fails = (values: object, message: RegExp) => {
    expect(() => renderChart({ values: [values] })).toThrow(RenderError);
    expect(() => renderChart({ values: [values] })).toThrow(message);
  };

  it.each(matrix.filter(refused).map((c) => [c.name, c] as const))("refuses %s: each pod would keep its own records", (_name, c) => {
    expect(() => renderChart(c)).toThrow(/each pod would keep its own idempotency records/);
  });

  it("refuses several replicas with a per-pod store, and the same with autoscaling", () => {
    fails({ replicaCount: 2 }, /replicaCount 2 \(or autoscaling\) with config.store.type sqlite/);
    fails({ replicaCount: 3, config: { store: { type: "memory" } } }, /config.store.type memory/);
  });

  it("refuses a SQLite file or a journal outside the data volume", () => {
    fails({ config: { store: { type: "sqlite", path: "/tmp/payguard.db" } } }, /config.store.path \/tmp\/payguard.db must be under \/var\/lib\/payguard\//);
    fails(
      { config: { store: { ...STORES.redis, journal: { dir: "/var/lib/payguardx" } } }, replicaCount: 2 },
      /config.store.journal.dir \/var\/lib\/payguardx must be under/,
    );
  });

  it("refuses an existing claim shared by several pods", () => {
    fails({ replicaCount: 2, config: { store: STORES.redis }, persistence: { existingClaim: "shared" } }, /existingClaim with several pods/);
  });

  it("renders what it accepts: a shared store over several pods, a SQLite path under the volume", () => {
    expect(() => renderChart({ values: [{ replicaCount: 2, config: { store: STORES.postgres } }] })).not.toThrow();
    expect(() => renderChart({ values: [{ config: { store: { type: "sqlite", path: "/var/lib/payguard/x/p.db" } } }] })).not.toThrow();
  });
});

describe("the pod payguard runs in, as rendered", () => {
  /** Every optional object on, secrets set: the sidecar example's values in standalone mode. */
  const full = () =>
    renderChart({
      files: [`${CHART}examples/sidecar-values.yaml`],
      values: [{ mode: "standalone", serviceMonitor: { enabled: true } }],
    });
  const container = (r: Rendered) => {
    const c = podSpec(workload(r)).containers.find((x) => x.name === "payguard");
    if (!c) throw new Error("no payguard container");
    return c;
  };

  it("the ConfigMap carries the config section as payguard.yaml", () => {
    const r = full();
    const data = one(r, "ConfigMap", "release-payguard-config").data as Record<string, string>;
    expect(parseYaml(data["payguard.yaml"] as string)).toEqual(r.values.config);
  });

  it("probes /healthz and /readyz on the admin port, which is config.admin.port", () => {
    const c = container(full());
    expect(c.livenessProbe).toMatchObject({ httpGet: { path: "/healthz", port: "admin" } });
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: "/readyz", port: "admin" } });
    expect(c.ports).toContainEqual({ name: "admin", containerPort: 9090, protocol: "TCP" });
    const moved = renderChart({ values: [{ config: { admin: { port: 9191 } } }] });
    expect(container(moved).ports).toContainEqual({ name: "admin", containerPort: 9191, protocol: "TCP" });
  });

  it("secrets only by secretKeyRef; no Secret object; the replica named by the downward API", () => {
    const r = full();
    const env = container(r).env;
    expect(env.find((e) => e.name === "REDIS_PASSWORD")?.valueFrom).toEqual({ secretKeyRef: { name: "redis", key: "redis-password" } });
    expect(env.find((e) => e.name === "PAYGUARD_STORE_KEY")?.valueFrom).toEqual({ secretKeyRef: { name: "payguard-store-key", key: "key" } });
    expect(env.find((e) => e.name === "PAYGUARD_REPLICA")?.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(env.every((e) => !("value" in e) || e.name === "PAYGUARD_CONFIG")).toBe(true);
    expect(r.objects.some((o) => o.kind === "Secret")).toBe(false);
  });

  it("locked down: non-root, read-only root filesystem, no capabilities, no privilege escalation", () => {
    const r = rendered({ name: "defaults" });
    expect(container(r).securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(podSpec(workload(r)).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 });
  });

  it("resources, spread over nodes and zones, and the grace period", () => {
    const r = rendered({ name: "defaults" });
    const pod = podSpec(workload(r));
    expect(container(r).resources).toMatchObject({ requests: { cpu: "250m" }, limits: { memory: "512Mi" } });
    expect(pod.topologySpreadConstraints.map((t) => t.topologyKey)).toEqual(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
    expect(pod.terminationGracePeriodSeconds).toBe(75);
  });

  it("optional objects only when asked; sidecar mode renders no workload of its own", () => {
    const kinds = (r: Rendered) => r.objects.map((o) => o.kind).sort();
    expect(kinds(rendered({ name: "defaults" }))).toEqual(["ConfigMap", "Service", "StatefulSet"]);
    expect(kinds(full())).toEqual(["ConfigMap", "ConfigMap", "PrometheusRule", "Service", "ServiceMonitor", "StatefulSet"]);
    const sidecar = renderChart({ files: [`${CHART}examples/sidecar-values.yaml`] });
    expect(kinds(sidecar)).toEqual(["ConfigMap", "ConfigMap", "PrometheusRule"]);
  });

  it("NOTES say where to point the service, in each mode", () => {
    expect(rendered({ name: "defaults" }).notes).toContain("GATEWAY_BASE_URL=http://release-payguard.payments.svc:8080");
    expect(renderChart({ files: [`${CHART}examples/sidecar-values.yaml`] }).notes).toContain("GATEWAY_BASE_URL=http://localhost:8080");
    expect(renderChart({ values: [{ persistence: { enabled: false } }] }).notes).toContain("persistence.enabled is false");
  });
});
