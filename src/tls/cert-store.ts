/**
 * "A certificate for this name": the one owner of the CA payguard is given to answer for
 * gateways' host names (interception). Modelled on mitmproxy's CertStore: one leaf key for
 * the process, a short-lived leaf certificate per host name signed by the CA, made on first
 * use and cached until half its life is gone. A name no gateway answers for gets nothing.
 *
 * X.509 is @peculiar/x509 over Node's WebCrypto: maintained, typed, and it signs with the RSA
 * or ECDSA key a CA (cert-manager, an operator's openssl) comes with; node-forge cannot sign
 * with an EC key. It needs a Reflect metadata polyfill (its DI container), loaded here first.
 * Only a config with interception loads this module.
 */
import "reflect-metadata";
import { createPrivateKey, X509Certificate as NodeCertificate, randomBytes, webcrypto } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import * as x509 from "@peculiar/x509";
import { LRUCache } from "lru-cache";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type Algorithm = webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams | { name: string; hash: string; namedCurve?: string };

/** The CA as PEM text: its certificate, and its private key (PKCS#8, PKCS#1 or SEC1). */
export interface CaPem {
  cert: string;
  key: string;
}

export interface CertStoreOptions {
  ca: CaPem;
  /** the host names any gateway answers for (lower case), asked at each handshake: a reload may change them */
  hosts: { has(host: string): boolean };
  /** how long a minted certificate is valid */
  validityMs: number;
}

const LEAF_KEY = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
/** Accepts a client clock this far behind. */
const BACKDATE_MS = 60 * 60 * 1000;

interface Minted {
  context: SecureContext;
  /** PEM of the leaf, for tests and the admin view */
  pem: string;
  renewAt: number;
}

export class CertStore {
  readonly #cache: LRUCache<string, Promise<Minted>>;

  private constructor(
    private readonly options: CertStoreOptions,
    private readonly ca: { cert: x509.X509Certificate; key: CryptoKey; algorithm: Algorithm },
    private readonly leaf: { keys: CryptoKeyPair; keyPem: string },
  ) {
    this.#cache = new LRUCache({ max: 256 });
  }

  static async open(options: CertStoreOptions): Promise<CertStore> {
    const ca = await importCa(options.ca);
    const keys = (await webcrypto.subtle.generateKey(LEAF_KEY, true, ["sign", "verify"])) as CryptoKeyPair;
    const keyPem = pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
    return new CertStore(options, ca, { keys, keyPem });
  }

  /** The TLS context for `servername`; undefined for a name no gateway answers for. */
  async contextFor(servername: string): Promise<SecureContext | undefined> {
    return (await this.mint(servername))?.context;
  }

  /** The leaf certificate (PEM) served for `servername`; undefined for a name no gateway answers for. */
  async certificateFor(servername: string): Promise<string | undefined> {
    return (await this.mint(servername))?.pem;
  }

  private async mint(servername: string): Promise<Minted | undefined> {
    const host = servername.toLowerCase();
    if (!this.options.hosts.has(host)) return undefined;
    const cached = this.#cache.get(host);
    if (cached && (await cached).renewAt > Date.now()) return cached;
    const minted = this.issue(host);
    this.#cache.set(host, minted);
    minted.catch(() => this.#cache.delete(host));
    return minted;
  }

  private async issue(host: string): Promise<Minted> {
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16)
        .toString("hex")
        .replace(/^[89a-f]/, "7"),
      subject: `CN=${host}`,
      // The CA's subject as encoded, not re-encoded from its text: Go (crypto/x509) finds the
      // issuer by comparing the raw bytes, and openssl writes UTF8String where a re-encoding
      // may not.
      issuer: this.ca.cert.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + this.options.validityMs),
      signingKey: this.ca.key,
      publicKey: this.leaf.keys.publicKey,
      signingAlgorithm: this.ca.algorithm,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: host }]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.ca.cert),
      ],
    });
    const leafPem = cert.toString("pem");
    // The chain the client builds to the CA it trusts: the leaf, then the CA.
    const context = createSecureContext({ key: this.leaf.keyPem, cert: `${leafPem}\n${this.ca.cert.toString("pem")}` });
    return { context, pem: leafPem, renewAt: now + this.options.validityMs / 2 };
  }
}

/** The CA's certificate and its key, as WebCrypto signs with it (RSA PKCS#1 v1.5 or ECDSA, SHA-256). */
async function importCa(ca: CaPem): Promise<{ cert: x509.X509Certificate; key: CryptoKey; algorithm: Algorithm }> {
  const cert = new x509.X509Certificate(ca.cert);
  if (!new NodeCertificate(ca.cert).ca) throw new Error("the interception CA certificate is not a CA (basicConstraints CA:TRUE)");
  const nodeKey = createPrivateKey(ca.key);
  const der = nodeKey.export({ format: "der", type: "pkcs8" });
  const algorithm =
    nodeKey.asymmetricKeyType === "ec"
      ? { name: "ECDSA", namedCurve: curveOf(nodeKey.asymmetricKeyDetails?.namedCurve), hash: "SHA-256" }
      : nodeKey.asymmetricKeyType === "rsa"
        ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
        : undefined;
  if (!algorithm) throw new Error(`the interception CA key is ${nodeKey.asymmetricKeyType}: use an RSA or ECDSA (P-256/P-384) key`);
  const key = await webcrypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"]);
  return { cert, key: key as CryptoKey, algorithm };
}

function curveOf(nodeName: string | undefined): string {
  if (nodeName === "prime256v1") return "P-256";
  if (nodeName === "secp384r1") return "P-384";
  throw new Error(`the interception CA key's curve ${nodeName} is not supported: use P-256 or P-384`);
}

function pem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}
