/**
 * Interception: the stock stripe-node (no host option), @adyen/api-library (no custom
 * httpClient) and @paypal/paypal-server-sdk (Sandbox), each in a process whose resolver really
 * maps the gateway's host name to payguard — its own /etc/hosts in a mount namespace, through the real
 * getaddrinfo — trusting payguard's CA through NODE_EXTRA_CA_CERTS only. payguard answers for
 * the name with a certificate minted from that CA and forwards to the fake gateway over TLS
 * (its own test CA, trusted through upstream.ca). Create + repeat → one upstream call; a
 * changed payload → the SDK's own error.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { type Running, runNode, runProgram, startInProcessYaml } from "../support/payguard.js";
import { issueServerCert, makeTestCa } from "../support/test-ca.js";

const isRoot = process.getuid?.() === 0;
const asRoot = it.skipIf(!isRoot); // skipped unless root: a mount namespace and port 443 need it; CI runs as root
const payguardCa = makeTestCa("ec", "payguard interception CA");
const gatewayCa = makeTestCa("rsa", "fake gateway CA");
let gw: FakeGateway;
let pg: Running;

beforeAll(async () => {
  if (!isRoot) return;
  gw = await startFakeGateway({ tls: issueServerCert(gatewayCa, ["127.0.0.1"]) });
  pg = await startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
store: { type: memory }
intercept: { host: 127.0.0.1, port: 443, ca: { certFile: "${payguardCa.certPath}", keyFile: "${payguardCa.keyPath}" } }
gateways:
  stripe: { url: "${gw.url}", hosts: [api.stripe.com], upstream: { gateway: stripe, ca: "${gatewayCa.certPath}" } }
  paypal: { url: "${gw.url}", hosts: [api-m.sandbox.paypal.com], upstream: { gateway: paypal, ca: "${gatewayCa.certPath}" } }
  adyen: { url: "${gw.url}", hosts: [checkout-test.adyen.com], upstream: { gateway: adyen, ca: "${gatewayCa.certPath}" } }
`);
});
afterAll(async () => {
  await pg?.close();
  await gw?.close();
});

/** Runs `script` with its own /etc/hosts and nothing of the test's environment but PATH and `env`. */
function runWithHosts(hosts: string, script: string, args: string[], env: Record<string, string>) {
  const hostsFile = join(payguardCa.dir, "hosts");
  writeFileSync(hostsFile, hosts);
  return runNode(script, args, env, { only: true, hostsFile });
}

const STOCK = new URL("./stripe-stock.mjs", import.meta.url).pathname;
const PAYPAL = new URL("./paypal-stock.mjs", import.meta.url).pathname;
const ADYEN = new URL("./adyen-stock.cjs", import.meta.url).pathname;
const HOSTS = "127.0.0.1 localhost\n127.0.0.1 api.stripe.com api-m.sandbox.paypal.com checkout-test.adyen.com\n";

/** A directory holding payguard's CA certificate alone, as the chart mounts it for the application. */
function caOnlyDir(): string {
  const dir = join(payguardCa.dir, "app-trust");
  mkdirSync(dir, { recursive: true });
  copyFileSync(payguardCa.certPath, join(dir, "ca.crt"));
  return dir;
}

/** test/sdk/go-client built with the machine's Go toolchain (GOPATH mode, standard library only), run with the test's hosts file. */
function runGo(args: string[], env: Record<string, string>) {
  const binary = join(payguardCa.dir, "go-client");
  const source = new URL("./go-client/main.go", import.meta.url).pathname;
  execFileSync("go", ["build", "-o", binary, source], {
    env: { ...process.env, GO111MODULE: "off", GOCACHE: join(payguardCa.dir, "go-cache") },
    stdio: "ignore",
  });
  const hostsFile = join(payguardCa.dir, "hosts");
  writeFileSync(hostsFile, HOSTS);
  return runProgram(binary, args, env, { only: true, hostsFile });
}

describe("interception: the stock SDK reaches payguard by the gateway's own host name", () => {
  asRoot("stripe-node with no host option: create + repeat is one upstream call; a changed payload is the SDK's own error", async () => {
    gw.setDefault(steps.json(200, { id: "pi_intercepted", object: "payment_intent", amount: 1000 }, { "request-id": "req_1" }));
    const key = `intercept-${Date.now()}`;
    const run = await runWithHosts(HOSTS, STOCK, [key], { NODE_EXTRA_CA_CERTS: payguardCa.certPath });
    expect(run.stderr).toBe("");
    const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(result.first).toMatchObject({ ok: true, id: "pi_intercepted" });
    expect(result.repeat).toMatchObject({ ok: true, id: "pi_intercepted", replayed: "true" });
    // the SDK's own error type (StripeAPIError), carrying payguard's code
    expect(result.changed).toMatchObject({ ok: false, type: expect.stringMatching(/^Stripe\w*Error$/), status: 422, code: "idempotency_key_reused" });
    const sent = gw.requests.filter((r) => r.headers["idempotency-key"] === key);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.headers.host).toBe(new URL(gw.url).host);
  });

  asRoot(
    "@paypal/paypal-server-sdk, Sandbox: its token and its order through payguard; create + repeat is one order upstream; a changed payload is its own ApiError",
    async () => {
      gw.answerWhen((req) =>
        req.url === "/v1/oauth2/token" ? steps.json(200, { access_token: "A21AA-intercepted", token_type: "Bearer", expires_in: 32400 }) : undefined,
      );
      gw.setDefault(steps.json(201, { id: "5O190127TN364715T", status: "CREATED" }, { "paypal-debug-id": "dbg1" }));
      const key = `pp-intercept-${Date.now()}`;
      const run = await runWithHosts(HOSTS, PAYPAL, [key], { NODE_EXTRA_CA_CERTS: payguardCa.certPath });
      expect(run.stderr).toBe("");
      const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
      expect(result.first).toEqual({ ok: true, id: "5O190127TN364715T" });
      expect(result.repeat).toEqual({ ok: true, id: "5O190127TN364715T" });
      expect(result.changed).toMatchObject({ ok: false, type: "ApiError", status: 422 });
      expect(gw.requests.filter((r) => r.headers["paypal-request-id"] === key)).toHaveLength(1);
    },
  );

  asRoot("@adyen/api-library with no custom httpClient: create + repeat is one upstream call; a changed payload is its own HttpClientException", async () => {
    gw.setDefault(steps.json(200, { pspReference: "PSP_INTERCEPTED", resultCode: "Authorised" }, { pspreference: "PSP_INTERCEPTED" }));
    const key = `adyen-intercept-${Date.now()}`;
    const run = await runWithHosts(HOSTS, ADYEN, [key], { NODE_EXTRA_CA_CERTS: payguardCa.certPath });
    expect(run.stderr).toBe("");
    const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(result.first).toEqual({ ok: true, pspReference: "PSP_INTERCEPTED" });
    expect(result.repeat).toEqual({ ok: true, pspReference: "PSP_INTERCEPTED" });
    expect(result.changed).toMatchObject({ ok: false, type: "HttpClientException", status: 422 });
    expect(gw.requests.filter((r) => r.headers["idempotency-key"] === key)).toHaveLength(1);
  });

  asRoot(
    "a Go application (net/http as shipped) trusting the CA through SSL_CERT_DIR alone, the chart's setting: create + repeat is one upstream call",
    async () => {
      gw.setDefault(steps.json(200, { id: "pi_go", object: "payment_intent" }));
      const key = `go-intercept-${Date.now()}`;
      const run = await runGo(["https://api.stripe.com/v1/payment_intents", key], { SSL_CERT_DIR: caOnlyDir() });
      expect(run.stderr).toBe("");
      const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
      expect(result.first).toMatchObject({ status: 200, body: JSON.stringify({ id: "pi_go", object: "payment_intent" }) });
      expect(result.repeat).toMatchObject({ status: 200, replayed: "true" });
      expect(gw.requests.filter((r) => r.headers["idempotency-key"] === key)).toHaveLength(1);
      // without it, Go refuses payguard's certificate
      const refused = JSON.parse((await runGo(["https://api.stripe.com/v1/payment_intents", `${key}-no-ca`], {})).stdout) as Record<
        string,
        Record<string, unknown>
      >;
      expect(refused.first?.error).toMatch(/x509: certificate signed by unknown authority/);
    },
  );

  asRoot("without payguard's CA the SDK refuses the connection, and nothing reaches the gateway", async () => {
    const before = gw.requests.length;
    const run = await runWithHosts(HOSTS, STOCK, ["no-ca"], {});
    const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(result.first).toMatchObject({ ok: false, type: "StripeConnectionError" });
    expect(gw.requests.length).toBe(before);
  });
});

/** A TLS handshake with payguard's interception listener for `servername`; resolves to the certificate's names or the failure. */
function handshake(servername: string | undefined): Promise<{ names?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: "127.0.0.1", port: 443, servername, ca: payguardCa.cert }, () => {
      resolve({ names: socket.getPeerCertificate().subjectaltname });
      socket.end();
    });
    socket.once("error", (err) => resolve({ error: err.message }));
  });
}

/** One HTTPS request on a connection for `servername`, with its own Host header. */
function requestWithHost(servername: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port: 443, servername, ca: payguardCa.cert, method: "GET", path: "/v1/balance", headers: { host }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.once("error", reject).end();
  });
}

describe("the interception listener answers only for the gateways' names", () => {
  asRoot("a gateway's name gets a certificate for exactly that name; an unknown name or no name fails the handshake", async () => {
    expect(await handshake("api.stripe.com")).toEqual({ names: "DNS:api.stripe.com" });
    expect((await handshake("attacker.example")).error).toBeDefined();
    expect((await handshake(undefined)).error).toBeDefined();
  });

  asRoot("a Host naming another gateway on a connection made for api.stripe.com is 421 host_misdirected, and nothing is sent", async () => {
    gw.setDefault(steps.json(200, { object: "balance" }));
    const before = gw.requests.length;
    const misdirected = await requestWithHost("api.stripe.com", "checkout-test.adyen.com");
    expect(misdirected.status).toBe(421);
    expect(JSON.parse(misdirected.body)).toMatchObject({ error: { code: "host_misdirected" } });
    expect(gw.requests.length).toBe(before);
    // the same name, with the port as clients may send it, is served
    expect((await requestWithHost("api.stripe.com", "api.stripe.com:443")).status).toBe(200);
    expect(gw.requests.length).toBe(before + 1);
  });
});
