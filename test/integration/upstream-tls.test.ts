/**
 * payguard verifies the gateway's certificate as any HTTPS client does: a certificate that has
 * expired, or that names another host, is refused before a byte of the request is sent, and
 * the client gets payguard's "not sent" answer. The control gateway, with a valid certificate
 * from the same test CA, is served through the same payguard.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { json, send } from "../support/http.js";
import { type Running, startInProcessYaml } from "../support/payguard.js";
import { issueServerCert, makeTestCa } from "../support/test-ca.js";

const ca = makeTestCa("ec", "fake gateway CA");
const NAMES = ["valid", "expired", "mismatched"] as const;
type Name = (typeof NAMES)[number];
const gw = {} as Record<Name, FakeGateway>;
let pg: Running;

beforeAll(async () => {
  gw.valid = await startFakeGateway({ tls: issueServerCert(ca, ["127.0.0.1"]) });
  gw.expired = await startFakeGateway({ tls: issueServerCert(ca, ["127.0.0.1"], { days: -1 }) });
  gw.mismatched = await startFakeGateway({ tls: issueServerCert(ca, ["api.elsewhere.example"]) });
  const gateway = (name: Name) => `  ${name}: { url: "${gw[name].url}", port: 0, upstream: { ca: "${ca.certPath}" } }`;
  pg = await startInProcessYaml(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
store: { type: memory }
resilience: { retry: { maxAttempts: 2, backoff: { initial: 1ms } } }
gateways:
${NAMES.map(gateway).join("\n")}
`);
  for (const name of NAMES) gw[name].setDefault(steps.json(200, { gateway: name }));
});
afterAll(async () => {
  await pg?.close();
  for (const name of NAMES) await gw[name]?.close();
});

const pay = (name: Name) =>
  send(pg.pg.gatewayUrls[name] as string, "/v1/charges", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": `tls-${name}-${Date.now()}` },
    body: JSON.stringify({ amount: 1000 }),
  });

describe("the gateway's certificate is verified", () => {
  it("a valid certificate from the trusted CA is served", async () => {
    const answer = await pay("valid");
    expect(answer.status).toBe(200);
    expect(json(answer)).toEqual({ gateway: "valid" });
  });

  for (const name of ["expired", "mismatched"] as const) {
    it(`the ${name} certificate is refused: 502 upstream_unreachable, nothing sent, the reason logged`, async () => {
      const answer = await pay(name);
      expect(answer.status).toBe(502);
      expect(json(answer)).toMatchObject({ code: "upstream_unreachable", retryable: true });
      expect(gw[name].requests).toHaveLength(0);
      const reason = name === "expired" ? "CERT_HAS_EXPIRED" : "ERR_TLS_CERT_ALTNAME_INVALID";
      expect(pg.logs.some((line) => line.includes(reason))).toBe(true);
    });
  }
});
