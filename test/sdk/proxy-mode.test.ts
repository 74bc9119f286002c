/**
 * HTTPS proxy mode: the stock @adyen/api-library with its documented proxy setting reaches
 * checkout-test.adyen.com through payguard — CONNECT, then payguard's TLS for that name
 * (trusted through NODE_EXTRA_CA_CERTS only) and the same pipeline, forwarded to the fake
 * gateway over TLS. CONNECT to a host no gateway names is 403 and nothing is dialled; a host
 * in intercept.passThrough is tunnelled untouched.
 */
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { rawExchange } from "../support/http.js";
import { type Running, runNode, startInProcessYaml } from "../support/payguard.js";
import { issueServerCert, makeTestCa } from "../support/test-ca.js";

const payguardCa = makeTestCa("ec", "payguard proxy CA");
const gatewayCa = makeTestCa("ec", "fake Adyen CA");
let gw: FakeGateway;
let pg: Running;
let echo: Server;
let dialled = 0;

beforeAll(async () => {
  gw = await startFakeGateway({ tls: issueServerCert(gatewayCa, ["127.0.0.1"]) });
  // a plain TCP echo service: the pass-through host's
  echo = createServer((socket) => {
    dialled++;
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  pg = await startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
store: { type: memory }
intercept: { host: 127.0.0.1, port: 0, ca: { certFile: "${payguardCa.certPath}", keyFile: "${payguardCa.keyPath}" }, passThrough: [localhost] }
gateways:
  adyen: { url: "${gw.url}", hosts: [checkout-test.adyen.com], upstream: { gateway: adyen, ca: "${gatewayCa.certPath}" } }
  paypal: { url: "${gw.url}", hosts: [api-m.sandbox.paypal.com], upstream: { gateway: paypal, ca: "${gatewayCa.certPath}" } }
`);
});
afterAll(async () => {
  await pg?.close();
  await gw?.close();
  echo?.close();
});

const runScript = (script: string, args: string[], env: Record<string, string>) => runNode(script, args, env, { only: true });

const ADYEN = new URL("./adyen-stock.cjs", import.meta.url).pathname;
const PAYPAL = new URL("./paypal-stock.mjs", import.meta.url).pathname;

describe("HTTPS proxy mode", () => {
  it("stock Adyen SDK with httpClient.proxy: create + repeat is one upstream call; a changed payload is the SDK's own error", async () => {
    gw.setDefault(steps.json(200, { pspReference: "PSP_PROXIED", resultCode: "Authorised" }, { pspreference: "PSP_PROXIED" }));
    const key = `proxied-${Date.now()}`;
    const port = new URL(pg.url).port;
    const run = await runScript(ADYEN, [key, port], { NODE_EXTRA_CA_CERTS: payguardCa.certPath });
    expect(run.stderr).toBe("");
    const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(result.first).toEqual({ ok: true, pspReference: "PSP_PROXIED" });
    expect(result.repeat).toEqual({ ok: true, pspReference: "PSP_PROXIED" });
    expect(result.changed).toMatchObject({ ok: false, type: "HttpClientException", status: 422 });
    expect(gw.requests.filter((r) => r.headers["idempotency-key"] === key)).toHaveLength(1);
  });

  it("stock @paypal/paypal-server-sdk with HTTPS_PROXY (its axios tunnels with CONNECT): create + repeat is one order upstream; a changed payload is its own ApiError", async () => {
    gw.answerWhen((req) =>
      req.url === "/v1/oauth2/token" ? steps.json(200, { access_token: "A21AA-proxied", token_type: "Bearer", expires_in: 32400 }) : undefined,
    );
    gw.setDefault(steps.json(201, { id: "7PROXIED0000000T", status: "CREATED" }, { "paypal-debug-id": "dbg2" }));
    const key = `pp-proxied-${Date.now()}`;
    const run = await runScript(PAYPAL, [key], { HTTPS_PROXY: pg.url, NODE_EXTRA_CA_CERTS: payguardCa.certPath });
    expect(run.stderr).toBe("");
    const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(result.first).toEqual({ ok: true, id: "7PROXIED0000000T" });
    expect(result.repeat).toEqual({ ok: true, id: "7PROXIED0000000T" });
    expect(result.changed).toMatchObject({ ok: false, type: "ApiError", status: 422 });
    expect(gw.requests.filter((r) => r.headers["paypal-request-id"] === key)).toHaveLength(1);
  });

  it("without payguard's CA the SDK refuses payguard's certificate, and nothing reaches the gateway", async () => {
    const before = gw.requests.length;
    const run = await runScript(ADYEN, ["no-ca", new URL(pg.url).port], {});
    const result = JSON.parse(run.stdout) as Record<string, Record<string, unknown>>;
    expect(result.first?.ok).toBe(false);
    expect(gw.requests.length).toBe(before);
  });

  it("CONNECT to a host no gateway names is 403 connect_forbidden; nothing is dialled", async () => {
    const port = (echo.address() as AddressInfo).port;
    const before = dialled;
    const raw = await rawExchange(pg.url, `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 403 /);
    expect(raw).toContain('"code":"connect_forbidden"');
    const other = await rawExchange(pg.url, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    expect(other).toMatch(/^HTTP\/1\.1 403 /);
    expect(dialled).toBe(before);
  });

  it("a host in intercept.passThrough is tunnelled untouched", async () => {
    const port = (echo.address() as AddressInfo).port;
    const raw = await rawExchange(pg.url, `CONNECT localhost:${port} HTTP/1.1\r\nHost: localhost:${port}\r\n\r\nping through the tunnel`, 1000);
    expect(raw).toBe("HTTP/1.1 200 Connection Established\r\n\r\nping through the tunnel");
  });
});
