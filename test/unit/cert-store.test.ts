/**
 * The CertStore answers "a certificate for this name" from a CA made by openssl: a real TLS
 * handshake through its SNI contexts verifies against that CA for a gateway's host name, and
 * fails for any other name; certificates are short-lived and cached.
 */
import { X509Certificate } from "node:crypto";
import "reflect-metadata";
import type { AddressInfo } from "node:net";
import { connect, createServer, type Server } from "node:tls";
import * as x509 from "@peculiar/x509";
import { afterEach, describe, expect, it } from "vitest";
import { CertStore } from "../../src/tls/cert-store.js";
import { makeTestCa } from "../support/test-ca.js";

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A TLS server whose certificate for each name comes from the store. */
async function serve(store: CertStore): Promise<number> {
  const server = createServer(
    {
      SNICallback: (name, done) => {
        store.contextFor(name).then((context) => (context ? done(null, context) : done(new Error(`no certificate for ${name}`))), done);
      },
    },
    (socket) => socket.end("hello"),
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A client that trusts `ca` only: what it reads, or the handshake's error. */
function handshake(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, servername, ca }, () => socket.once("data", (d) => resolve(`ok: ${d}`)));
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
  });
}

describe("CertStore", () => {
  for (const kind of ["ec", "rsa"] as const) {
    it(`mints a certificate a client trusting the ${kind} CA accepts, for a gateway's host only`, async () => {
      const ca = makeTestCa(kind);
      const store = await CertStore.open({ ca, hosts: new Set(["api.stripe.com"]), validityMs: 24 * 3600_000 });
      const port = await serve(store);
      expect(await handshake(port, "api.stripe.com", ca.cert)).toBe("ok: hello");
      expect(await handshake(port, "API.Stripe.com", ca.cert)).toBe("ok: hello");
      expect(await handshake(port, "evil.example.com", ca.cert)).toMatch(/^error: /);
      // a client that does not trust the CA refuses it
      expect(await handshake(port, "api.stripe.com", makeTestCa("ec", "another CA").cert)).toMatch(/^error: .*(CERT|SIGNATURE|ISSUER)/);
    });
  }

  it("names its issuer with the CA's subject bytes as encoded (Go's crypto/x509 matches issuers byte for byte)", async () => {
    for (const kind of ["ec", "rsa"] as const) {
      const ca = makeTestCa(kind, "payguard test CA");
      const store = await CertStore.open({ ca, hosts: new Set(["api.stripe.com"]), validityMs: 3600_000 });
      const leaf = new x509.X509Certificate((await store.certificateFor("api.stripe.com")) as string);
      const issuer = Buffer.from(leaf.issuerName.toArrayBuffer());
      expect(issuer.equals(Buffer.from(new x509.X509Certificate(ca.cert).subjectName.toArrayBuffer()))).toBe(true);
    }
  });

  it("short-lived, for exactly the name, and cached", async () => {
    const ca = makeTestCa();
    const store = await CertStore.open({ ca, hosts: new Set(["checkout-test.adyen.com"]), validityMs: 3600_000 });
    const pem = await store.certificateFor("checkout-test.adyen.com");
    const leaf = new X509Certificate(pem as string);
    expect(leaf.checkHost("checkout-test.adyen.com")).toBe("checkout-test.adyen.com");
    expect(leaf.checkHost("adyen.com")).toBeUndefined();
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    const lifetime = Date.parse(leaf.validTo) - Date.now();
    expect(lifetime).toBeGreaterThan(3500_000);
    expect(lifetime).toBeLessThanOrEqual(3600_000);
    expect(await store.certificateFor("checkout-test.adyen.com")).toBe(pem);
    expect(await store.certificateFor("other.adyen.com")).toBeUndefined();
  });

  it("refuses a CA certificate that is not a CA", async () => {
    const ca = makeTestCa();
    const store = await CertStore.open({ ca, hosts: new Set(["a.example"]), validityMs: 3600_000 });
    const leaf = (await store.certificateFor("a.example")) as string;
    await expect(CertStore.open({ ca: { cert: leaf, key: ca.key }, hosts: new Set(["a.example"]), validityMs: 1 })).rejects.toThrow(/not a CA/);
  });
});
