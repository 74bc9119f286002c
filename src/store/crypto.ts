/**
 * Encryption at rest of stored responses: AES-256-GCM with key rotation. The first key
 * encrypts; every key decrypts, picked by the key id carried in the sealed data.
 *
 * Sealed format: version (1 byte, = 1) | key id (4 bytes: first 4 bytes of sha256(key)) |
 * IV (12 random bytes) | ciphertext | GCM tag (16 bytes).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

const VERSION = 1;
const KEY_BYTES = 32;
const KEY_ID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES;

/** Seals and opens stored bytes. */
export interface Cipher {
  /** `context` (e.g. the record's key) is authenticated, not stored: the same must be given to decrypt. */
  encrypt(plain: Buffer, context?: string): Buffer;
  /** Throws for an unknown version or key id, and when authentication fails (tampering, wrong key, other context). */
  decrypt(sealed: Buffer, context?: string): Buffer;
}

/**
 * Parses a comma-separated list of base64 32-byte keys, newest (encrypting) first.
 * An empty spec yields [] (encryption off). Error messages name the key's position, never its value.
 */
export function parseKeys(spec: string): Buffer[] {
  if (spec.trim() === "") return [];
  const parts = spec.split(",");
  return parts.map((raw, i) => {
    const where = `encryption key #${i + 1} of ${parts.length}`;
    const text = raw.trim();
    if (text === "") throw new Error(`${where} is empty`);
    const key = Buffer.from(text, "base64");
    // Buffer.from ignores characters outside the alphabet: re-encoding catches them.
    if (key.toString("base64") !== text) throw new Error(`${where} is not valid base64`);
    if (key.length !== KEY_BYTES) throw new Error(`${where} is ${key.length} bytes; AES-256 needs ${KEY_BYTES} (e.g. \`openssl rand -base64 32\`)`);
    return key;
  });
}

/** The cipher for `keys` (the first encrypts, all decrypt), or undefined when there are none. */
export function createCipher(keys: Buffer[]): Cipher | undefined {
  const [current] = keys;
  if (current === undefined) return undefined;
  const byId = new Map<string, Buffer>();
  for (const key of keys) {
    if (key.length !== KEY_BYTES) throw new Error(`encryption keys must be ${KEY_BYTES} bytes, got ${key.length}`);
    const id = keyId(key).toString("hex");
    const known = byId.get(id);
    if (known !== undefined && !known.equals(key)) throw new Error(`two encryption keys share the key id ${id}; generate a new key`);
    byId.set(id, key);
  }
  const currentId = keyId(current);

  return {
    encrypt(plain, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", current, iv, { authTagLength: TAG_BYTES });
      // Binding the context: a sealed answer moved under another key no longer opens.
      if (context !== undefined) cipher.setAAD(Buffer.from(context));
      const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), currentId, iv, ciphertext, cipher.getAuthTag()]);
    },
    decrypt(sealed, context) {
      if (sealed.length < HEADER_BYTES + TAG_BYTES) throw new Error(`cannot decrypt: sealed data is ${sealed.length} bytes, too short`);
      const version = sealed[0];
      if (version !== VERSION) throw new Error(`cannot decrypt: unsupported sealed format version ${version}`);
      const id = sealed.subarray(1, 1 + KEY_ID_BYTES).toString("hex");
      const key = byId.get(id);
      if (key === undefined) throw new Error(`cannot decrypt: unknown key id ${id} (was its key removed from the key list?)`);
      const iv = sealed.subarray(1 + KEY_ID_BYTES, HEADER_BYTES);
      const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      if (context !== undefined) decipher.setAAD(Buffer.from(context));
      const ciphertext = sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES);
      try {
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch (err) {
        throw new Error("cannot decrypt: authentication failed (data tampered with or corrupted)", { cause: err });
      }
    },
  };
}

/** The cipher for `store.encryption.key` (parseKeys, then createCipher), or undefined when it names no key. */
export function cipherFor(spec: string): Cipher | undefined {
  return createCipher(parseKeys(spec));
}

function keyId(key: Buffer): Buffer {
  return createHash("sha256").update(key).digest().subarray(0, KEY_ID_BYTES);
}
