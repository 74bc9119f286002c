/**
 * Interception in the chart, rendered: the CA Secret mounted for payguard only, the privileged
 * port opened by the pod sysctl, and — through the named templates a service's own chart
 * includes — hostAliases for every intercepted name and the application's one trust setting
 * per runtime. examples/sidecar-intercept-deployment.yaml is held to the render.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { CHART, yamlDocs } from "./chart.js";
import { type KubeObject, one, RenderError, type Rendered, renderChart } from "./helm.js";
import { schemaErrors, unknownFieldErrors } from "./kube.js";

const VALUES = `${CHART}examples/sidecar-intercept-values.yaml`;
const APP = readFileSync(new URL("./fixtures/app-with-payguard.yaml", import.meta.url), "utf8");
const ENV = { REDIS_PASSWORD: "from-secret", PAYGUARD_STORE_KEY: "" };

type Env = { name: string; value?: string };
type Mount = { name: string; mountPath: string };
type Volume = { name: string; secret?: { secretName: string; defaultMode?: number; items: { key: string; path: string }[] }; configMap?: { name: string } };
interface Pod {
  hostAliases?: { ip: string; hostnames: string[] }[] | null;
  securityContext: { sysctls?: { name: string; value: string }[] | null };
  containers: { name: string; env?: Env[] | null; volumeMounts?: Mount[] | null; ports?: { name: string; containerPort: number }[] }[];
  volumes: Volume[];
}

/** The service's Deployment (the fixture) rendered with payguard's values and these overlays. */
const withApp = (values: object[] = [], release = "release"): Rendered => renderChart({ release, files: [VALUES], values, templates: { "zz-app.yaml": APP } });
const podOf = (r: Rendered): Pod => (one(r, "Deployment", "checkout").spec as { template: { spec: Pod } }).template.spec;
const container = (pod: Pod, name: string) => pod.containers.find((c) => c.name === name) ?? { name, env: [], volumeMounts: [] };
const refusal = (values: object[]): string => {
  try {
    withApp(values);
  } catch (err) {
    if (err instanceof RenderError) return err.message;
    throw err;
  }
  return "rendered";
};

describe("interception in a sidecar pod, through the named templates", () => {
  it("examples/sidecar-intercept-deployment.yaml is what they render, valid Kubernetes, with a config payguard accepts", () => {
    const r = withApp([], "checkout");
    const rendered = r.objects.filter((o) => o.kind === "Deployment" || o.metadata.name === "checkout-payguard-config").map(({ template: _, ...o }) => o);
    expect(yamlDocs(`${CHART}examples/sidecar-intercept-deployment.yaml`)).toEqual(rendered);
    const labelled = r.objects.map((o) => ({ ...o, label: `${o.template} ${o.kind}/${o.metadata.name}` }));
    expect(schemaErrors(labelled)).toEqual([]);
    expect(unknownFieldErrors(labelled)).toEqual([]);
    const config = parseConfig((one(r, "ConfigMap", "checkout-payguard-config").data as Record<string, string>)["payguard.yaml"] as string, ENV);
    expect(config.gateways.map((g) => g.name)).toEqual(["adyen", "paypal", "stripe"]);
  });

  it("hostAliases send every intercepted name to payguard on 127.0.0.1: a gateway's hosts, else its URL's host", () => {
    expect(podOf(withApp()).hostAliases).toEqual([{ ip: "127.0.0.1", hostnames: ["checkout-test.adyen.com", "api-m.sandbox.paypal.com", "api.stripe.com"] }]);
    const hosts = withApp([{ config: { gateways: { adyen: { hosts: ["checkout-test.adyen.com", "pal-test.adyen.com"] } } } }]);
    expect(podOf(hosts).hostAliases?.[0]?.hostnames).toEqual(["checkout-test.adyen.com", "pal-test.adyen.com", "api-m.sandbox.paypal.com", "api.stripe.com"]);
  });

  it("only payguard mounts the CA's key (group-readable, 0440); the application gets the certificate alone", () => {
    const pod = podOf(withApp());
    const ca = pod.volumes.find((v) => v.name === "payguard-intercept-ca");
    expect(ca?.secret).toMatchObject({ secretName: "payguard-intercept-ca", defaultMode: 0o440 });
    expect(ca?.secret?.items.map((i) => i.path)).toEqual(["ca.crt", "ca.key"]);
    const mounting = pod.containers.filter((c) => c.volumeMounts?.some((m) => m.name === "payguard-intercept-ca")).map((c) => c.name);
    expect(mounting).toEqual(["payguard"]);
    expect(container(pod, "payguard").volumeMounts).toContainEqual({ name: "payguard-intercept-ca", mountPath: "/etc/payguard-intercept", readOnly: true });
    expect(pod.volumes.find((v) => v.name === "payguard-app-trust")?.secret?.items).toEqual([{ key: "tls.crt", path: "ca.crt" }]);
  });

  it("the application's one trust setting, per runtime; python and java read a bundle of the public roots plus the CA", () => {
    const bundle = { trustBundle: { configMap: "payguard-trust-bundle" } };
    const envOf = (appRuntime: string) => container(podOf(withApp([{ interception: { appRuntime, ...bundle } }])), "app").env;
    expect(envOf("node")).toEqual([{ name: "NODE_EXTRA_CA_CERTS", value: "/etc/payguard-ca/ca.crt" }]);
    expect(envOf("go")).toEqual([{ name: "SSL_CERT_DIR", value: "/etc/payguard-ca" }]);
    expect(envOf("python")).toEqual([{ name: "REQUESTS_CA_BUNDLE", value: "/etc/payguard-ca/bundle.pem" }]);
    expect(envOf("java")).toEqual([
      {
        name: "JAVA_TOOL_OPTIONS",
        value: "-Djavax.net.ssl.trustStore=/etc/payguard-ca/bundle.p12 -Djavax.net.ssl.trustStoreType=PKCS12 -Djavax.net.ssl.trustStorePassword=changeit",
      },
    ]);
    const java = podOf(withApp([{ interception: { appRuntime: "java", ...bundle } }]));
    expect(java.volumes.find((v) => v.name === "payguard-app-trust")).toEqual({ name: "payguard-app-trust", configMap: { name: "payguard-trust-bundle" } });
    expect(container(java, "app").volumeMounts).toEqual([{ name: "payguard-app-trust", mountPath: "/etc/payguard-ca", readOnly: true }]);
    expect(refusal([{ interception: { appRuntime: "python" } }])).toContain("interception.trustBundle.configMap");
  });

  it("a privileged intercept port opens with the pod's sysctl, and only then", () => {
    const pod = podOf(withApp());
    expect(pod.securityContext.sysctls).toEqual([{ name: "net.ipv4.ip_unprivileged_port_start", value: "443" }]);
    expect(container(pod, "payguard").ports).toContainEqual({ name: "https", containerPort: 443, protocol: "TCP" });
    expect(podOf(withApp([{ config: { intercept: { port: 8443 } } }])).securityContext.sysctls ?? []).toEqual([]);
  });

  it("without interception the templates add nothing to the pod", () => {
    const plain = renderChart({ files: [`${CHART}examples/sidecar-values.yaml`], templates: { "zz-app.yaml": APP } });
    const pod = podOf(plain);
    expect(pod.hostAliases ?? []).toEqual([]);
    expect(pod.securityContext.sysctls ?? []).toEqual([]);
    expect(container(pod, "app").env ?? []).toEqual([]);
    expect(pod.volumes.map((v) => v.name).sort()).toEqual(["payguard-config", "payguard-data", "payguard-tmp"]);
  });
});

describe("interception in the NOTES", () => {
  it("names the intercepted hosts and what the pod needs, in each mode", () => {
    const sidecar = renderChart({ files: [VALUES] }).notes;
    expect(sidecar).toContain("payguard answers for checkout-test.adyen.com, api-m.sandbox.paypal.com, api.stripe.com");
    expect(sidecar).toContain('include "payguard.hostAliases"');
    expect(renderChart({ files: [VALUES], values: [{ mode: "standalone" }] }).notes).toContain("HTTPS_PROXY=http://release-payguard.payments.svc:8080");
  });
});

describe("interception in standalone mode", () => {
  it("the pod gets the CA, the port and its sysctl; the Service exposes 443", () => {
    const r = renderChart({ files: [VALUES], values: [{ mode: "standalone" }] });
    const workload = r.objects.find((o) => o.kind === "StatefulSet") as KubeObject;
    const pod = (workload.spec as { template: { spec: Pod } }).template.spec;
    expect(pod.securityContext.sysctls).toEqual([{ name: "net.ipv4.ip_unprivileged_port_start", value: "443" }]);
    expect(container(pod, "payguard").volumeMounts).toContainEqual({ name: "payguard-intercept-ca", mountPath: "/etc/payguard-intercept", readOnly: true });
    expect((one(r, "Service").spec as { ports: unknown[] }).ports).toContainEqual({ name: "https", port: 443, targetPort: "https", protocol: "TCP" });
  });
});

describe("a half-set interception is refused at render", () => {
  it("a CA in the config without the Secret, the Secret without the CA, or files not where the Secret is mounted", () => {
    expect(refusal([{ interception: { caSecret: { secretName: "" } } }])).toContain("interception.caSecret.secretName is empty");
    expect(refusal([{ config: { intercept: { ca: null } } }])).toContain("config.intercept.ca is not");
    expect(refusal([{ config: { intercept: { ca: { certFile: "/ca/ca.crt" } } } }])).toContain(
      "config.intercept.ca must be { certFile: /etc/payguard-intercept/ca.crt",
    );
    expect(refusal([{ interception: { appRuntime: "ruby" } }])).toContain("interception.appRuntime ruby");
  });

  it("under gateways the chart's default upstream is left out; an upstream you changed beside them is refused", () => {
    const config = (one(withApp(), "ConfigMap", "release-payguard-config").data as Record<string, string>)["payguard.yaml"] as string;
    expect(config).not.toContain("upstream");
    expect(refusal([{ config: { upstream: { url: "https://api.adyen.com" } } }])).toContain("config.upstream beside config.gateways");
  });
});

describe("webhooks in the chart", () => {
  it("with webhook endpoints, the container and the Service expose webhooks.port; without, neither does", () => {
    const webhooks = {
      webhooks: {
        port: 8181,
        endpoints: [{ gateway: "default", path: "/webhooks/stripe", secret: "${STRIPE_WEBHOOK_SECRET}", deliverTo: "http://127.0.0.1:3000/hook" }],
      },
    };
    const r = renderChart({ values: [{ config: webhooks }] });
    const pod = ((r.objects.find((o) => o.kind === "StatefulSet") as KubeObject).spec as { template: { spec: Pod } }).template.spec;
    expect(container(pod, "payguard").ports).toContainEqual({ name: "webhooks", containerPort: 8181, protocol: "TCP" });
    expect((one(r, "Service").spec as { ports: unknown[] }).ports).toContainEqual({ name: "webhooks", port: 8181, targetPort: "webhooks", protocol: "TCP" });
    const config = (one(r, "ConfigMap", "release-payguard-config").data as Record<string, string>)["payguard.yaml"] as string;
    expect(parseConfig(config, { STRIPE_WEBHOOK_SECRET: "whsec_x" }).webhooks.port).toBe(8181);
    const plain = renderChart({});
    expect(JSON.stringify(plain.objects)).not.toContain('"webhooks"');
  });
});
