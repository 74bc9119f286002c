/**
 * With interception, the pod's hostAliases send the gateway's name to payguard — in
 * payguard's own container too. payguard then resolves the gateway through DNS (never
 * /etc/hosts) and still reaches the real gateway, verifying its certificate; a gateway that
 * resolves to one of payguard's own listeners is refused, at load and at run time.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDns, type TestDns } from "../support/dns-server.js";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { send } from "../support/http.js";
import { type Child, runCli, startChild, writeTempConfig } from "../support/payguard.js";
import { issueServerCert, makeTestCa } from "../support/test-ca.js";
import { until } from "../support/until.js";

const isRoot = process.getuid?.() === 0;
const asRoot = it.skipIf(!isRoot); // skipped unless root: a mount namespace (its own /etc/hosts) needs it; CI runs as root
const interceptCa = makeTestCa("ec", "payguard interception CA");
const gatewayCa = makeTestCa("ec", "gateway CA");
let gw: FakeGateway;
let dns: TestDns;
const children: Child[] = [];

beforeAll(async () => {
  // The "real" gateway: api.stripe.com is 127.0.0.2 in DNS; its certificate names api.stripe.com.
  gw = await startFakeGateway({ tls: issueServerCert(gatewayCa, ["api.stripe.com"]), host: "127.0.0.2" });
  dns = await startDns({ "api.stripe.com": "127.0.0.2", "loop.example": "127.0.0.1" });
});
afterAll(async () => {
  for (const child of children) child.proc.kill("SIGKILL");
  await gw?.close();
  await dns?.close();
});

function configWith(gateway: string, serverPort = 0): string {
  return writeTempConfig(`
server: { host: 127.0.0.1, port: ${serverPort} }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 2s }
store: { type: memory }
intercept: { host: 127.0.0.1, port: 0, ca: { certFile: "${interceptCa.certPath}", keyFile: "${interceptCa.keyPath}" } }
gateways:
  stripe: { url: "${gateway}", upstream: { ca: "${gatewayCa.certPath}", dnsServers: ["${dns.server}"] } }
`);
}

/** payguard with its own /etc/hosts sending api.stripe.com to itself (127.0.0.1), as hostAliases would. */
async function payguardBehindHostAliases(configFile: string): Promise<Child> {
  const hosts = join(interceptCa.dir, "payguard-hosts");
  writeFileSync(hosts, "127.0.0.1 localhost\n127.0.0.1 api.stripe.com\n");
  const child = await startChild(configFile, {}, [], hosts);
  children.push(child);
  return child;
}

describe("upstream resolution under interception", () => {
  asRoot("payguard's own /etc/hosts sends the gateway's name to itself: it asks DNS and reaches the real gateway", async () => {
    const port = new URL(gw.url).port;
    const pg = await payguardBehindHostAliases(configWith(`https://api.stripe.com:${port}`));
    gw.script(steps.json(200, { id: "pi_real" }));
    const answer = await send(pg.url, "/v1/payment_intents", {
      method: "POST",
      headers: { "idempotency-key": "dns-1", "content-type": "application/json" },
      body: "{}",
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString())).toEqual({ id: "pi_real" });
    expect(dns.asked).toContain("A api.stripe.com");
  });

  it("told to resolve through /etc/hosts (resolve: system), it would have reached itself: the config is refused", async () => {
    const refused = await runCli([
      "check",
      "--config",
      writeTempConfig(`
intercept: { ca: { certFile: "${interceptCa.certPath}", keyFile: "${interceptCa.keyPath}" } }
gateways:
  stripe: { url: https://api.stripe.com, upstream: { resolve: system } }
`),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).toMatch(/gateways\.stripe\.url: api\.stripe\.com is intercepted, and upstream\.resolve: system reads \/etc\/hosts/);
  });

  it("a gateway URL naming payguard's own listener is refused at load", async () => {
    const refused = await runCli(["check", "--config", writeTempConfig("server: { port: 8080 }\nupstream: { url: http://127.0.0.1:8080 }\n")]);
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).toMatch(/upstream\.url: http:\/\/127\.0\.0\.1:8080 is payguard's own server\.port: every request would loop/);
  });

  asRoot("a gateway whose DNS answer is payguard's own address and port is refused at run time; nothing loops", async () => {
    // loop.example is 127.0.0.1 in DNS; payguard listens there on server.port, which the URL names.
    const probe = await payguardBehindHostAliases(configWith("https://api.stripe.com"));
    const port = Number(new URL(probe.url).port);
    probe.proc.kill("SIGKILL");
    await probe.exited.catch(() => undefined);
    const pg = await payguardBehindHostAliases(configWith(`https://loop.example:${port}`, port));
    expect(pg.url).toBe(`http://127.0.0.1:${port}`);
    const answer = await send(pg.url, "/v1/balance");
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body.toString()).code).toBe("upstream_unreachable");
    await until(() => pg.stdout.some((line) => line.includes("refusing a loop")), "the refusal in the log");
  });
});
