/** The worked sidecar example: a service with payguard injected, consistent with sidecar-values.yaml. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { CHART, type Values, yamlDocs, yamlFile } from "./chart.js";

interface Container {
  name: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: { name: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet: { path: string; port: string } };
  readinessProbe?: { httpGet: { path: string; port: string } };
  volumeMounts?: { name: string; mountPath: string }[];
}
type Doc = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: { template: { spec: PodSpec } } };
interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: Container[];
  volumes: { name: string; configMap?: { name: string }; emptyDir?: object }[];
}

const docs = yamlDocs(`${CHART}examples/sidecar-deployment.yaml`) as Doc[];
const configMap = docs.find((d) => d.kind === "ConfigMap");
const pod = docs.find((d) => d.kind === "Deployment")?.spec?.template.spec as PodSpec;
const payguard = pod.containers.find((c) => c.name === "payguard") as Container;
const app = pod.containers.find((c) => c.name !== "payguard") as Container;
const ENV = { REDIS_PASSWORD: "from-secret", PAYGUARD_STORE_KEY: "" };

describe("examples/sidecar-deployment.yaml", () => {
  it("its ConfigMap holds the same payguard config as examples/sidecar-values.yaml, and payguard accepts it", () => {
    const text = configMap?.data?.["payguard.yaml"] ?? "";
    const values = yamlFile<Values>(`${CHART}examples/sidecar-values.yaml`);
    expect(yamlDocs(`${CHART}examples/sidecar-deployment.yaml`)).toHaveLength(2);
    expect(parseConfig(text, ENV)).toEqual(parseConfig(JSON.stringify(values.config), ENV));
  });

  it("the app reaches the gateway through payguard on localhost", () => {
    const port = parseConfig(configMap?.data?.["payguard.yaml"] ?? "", ENV).server.port;
    expect(app.env).toContainEqual({ name: "GATEWAY_BASE_URL", value: `http://localhost:${port}` });
  });

  it("payguard mounts its config from the ConfigMap and the data volume (journal, sqlite file) at /var/lib/payguard", () => {
    expect(pod.volumes).toContainEqual({ name: "payguard-config", configMap: { name: configMap?.metadata.name } });
    expect(payguard.volumeMounts).toContainEqual(expect.objectContaining({ name: "payguard-config", mountPath: "/etc/payguard" }));
    expect(payguard.volumeMounts).toContainEqual(expect.objectContaining({ name: "payguard-data", mountPath: "/var/lib/payguard" }));
  });

  it("secrets only by secretKeyRef, probes on the admin port, locked-down securityContext", () => {
    const secretEnv = payguard.env?.filter((e) => /PASSWORD|KEY|TOKEN/.test(e.name)) ?? [];
    expect(secretEnv.map((e) => e.name).sort()).toEqual(["PAYGUARD_STORE_KEY", "REDIS_PASSWORD"]);
    for (const e of secretEnv) expect(e).toMatchObject({ valueFrom: { secretKeyRef: expect.any(Object) } });
    expect(payguard.ports).toContainEqual({ name: "admin", containerPort: 9090 });
    expect(payguard.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "admin" });
    expect(payguard.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(payguard.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
  });

  it("the grace period outlasts readinessDelay + drainTimeout + settleTimeout", () => {
    const { shutdown } = parseConfig(configMap?.data?.["payguard.yaml"] ?? "", ENV);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdown.readinessDelay + shutdown.drainTimeout + shutdown.settleTimeout);
  });
});
