/**
 * Test certificate authorities made by openssl, as an operator (or cert-manager) would hand
 * them to payguard: a CA certificate and its key, RSA or ECDSA, in a fresh directory.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  dir: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export function makeTestCa(kind: "ec" | "rsa" = "ec", name = "payguard test CA"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "payguard-ca-"));
  const [certPath, keyPath] = [join(dir, "ca.crt"), join(dir, "ca.key")];
  const key = kind === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] : ["-newkey", "rsa:2048"];
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      ...key,
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    { stdio: "ignore" },
  );
  return { dir, certPath, keyPath, cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}

/** A server certificate for `hosts` signed by `ca` (openssl), for a fake gateway served over TLS. */
export function issueServerCert(ca: TestCa, hosts: readonly string[], options: { days?: number } = {}): { cert: string; key: string } {
  const [keyPath, csrPath, certPath, extPath] = ["srv.key", "srv.csr", "srv.crt", "srv.ext"].map((f) => join(ca.dir, f)) as [string, string, string, string];
  const san = hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  execFileSync(
    "openssl",
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath, "-out", csrPath, "-subj", `/CN=${hosts[0]}`],
    { stdio: "ignore" },
  );
  execFileSync("sh", ["-c", `printf 'subjectAltName=${san}\\nextendedKeyUsage=serverAuth\\n' > ${extPath}`]);
  execFileSync(
    "openssl",
    [
      "x509",
      "-req",
      "-in",
      csrPath,
      "-CA",
      ca.certPath,
      "-CAkey",
      ca.keyPath,
      "-CAcreateserial",
      "-out",
      certPath,
      "-days",
      String(options.days ?? 2),
      "-extfile",
      extPath,
    ],
    { stdio: "ignore" },
  );
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}
