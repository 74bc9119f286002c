import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Cipher, createCipher, parseKeys } from "../../src/store/crypto.js";

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const keyC = randomBytes(32);
const keyId = (key: Buffer) => createHash("sha256").update(key).digest().subarray(0, 4);

function cipherFor(...keys: Buffer[]): Cipher {
  const cipher = createCipher(keys);
  if (cipher === undefined) throw new Error("expected a cipher");
  return cipher;
}

describe("createCipher", () => {
  it("round-trips any bytes, in the documented layout", () => {
    const cipher = cipherFor(keyA);
    for (const plain of [Buffer.alloc(0), Buffer.from("{}"), randomBytes(70_000)]) {
      const sealed = cipher.encrypt(plain);
      expect(sealed.length).toBe(1 + 4 + 12 + plain.length + 16);
      expect(sealed[0]).toBe(1);
      expect(sealed.subarray(1, 5).equals(keyId(keyA))).toBe(true);
      expect(cipher.decrypt(sealed).equals(plain)).toBe(true);
    }
    // a fresh IV every time
    expect(cipher.encrypt(Buffer.from("same")).equals(cipher.encrypt(Buffer.from("same")))).toBe(false);
  });

  it("leaves no plaintext in the sealed bytes", () => {
    const plain = Buffer.from('{"card":"4242424242424242","cvc":"123","name":"Jane Doe"}'.repeat(20));
    const sealed = cipherFor(keyA).encrypt(plain);
    // Fragments of 4+ bytes: a 1 KiB random ciphertext holds any given 2-byte pair about 1.8% of the time.
    for (const fragment of ["4242424242", '{"card"', "Jane Doe", '"cvc":"123"']) expect(sealed.includes(fragment)).toBe(false);
  });

  it("fails authentication when any one byte of the IV, ciphertext or tag is changed", () => {
    const cipher = cipherFor(keyA);
    const sealed = cipher.encrypt(Buffer.from("charge ch_123 succeeded"));
    for (let i = 5; i < sealed.length; i++) {
      const tampered = Buffer.from(sealed);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      expect(() => cipher.decrypt(tampered), `byte ${i}`).toThrow(/authentication failed/);
    }
    const badVersion = Buffer.from(sealed);
    badVersion[0] = 2;
    expect(() => cipher.decrypt(badVersion)).toThrow(/version 2/);
    expect(() => cipher.decrypt(sealed.subarray(0, 20))).toThrow(/too short/);
  });

  it("rotates: old data still opens after a new key is put first, and new data uses the new key", () => {
    const sealedOld = cipherFor(keyA).encrypt(Buffer.from("old"));
    const rotated = cipherFor(keyB, keyA);
    expect(rotated.decrypt(sealedOld).toString()).toBe("old");

    const sealedNew = rotated.encrypt(Buffer.from("new"));
    expect(sealedNew.subarray(1, 5).equals(keyId(keyB))).toBe(true);
    expect(cipherFor(keyB).decrypt(sealedNew).toString()).toBe("new");
    expect(() => cipherFor(keyA).decrypt(sealedNew)).toThrow(/unknown key id/);
  });

  it("refuses data sealed under a key it does not have", () => {
    const sealed = cipherFor(keyA).encrypt(Buffer.from("secret"));
    expect(() => cipherFor(keyC, keyB).decrypt(sealed)).toThrow(`unknown key id ${keyId(keyA).toString("hex")}`);
  });

  it("is off without keys", () => {
    expect(createCipher([])).toBeUndefined();
  });
});

describe("parseKeys", () => {
  it("reads a comma-separated list of base64 keys, in order", () => {
    const keys = parseKeys(` ${keyA.toString("base64")}, ${keyB.toString("base64")} `);
    expect(keys).toHaveLength(2);
    expect(keys[0]?.equals(keyA)).toBe(true);
    expect(keys[1]?.equals(keyB)).toBe(true);
  });

  it("turns encryption off for an empty spec", () => {
    expect(parseKeys("")).toEqual([]);
  });

  it("rejects a key that is not 32 bytes, naming its position and not its value", () => {
    const short = randomBytes(16).toString("base64");
    let message = "";
    try {
      parseKeys(`${keyA.toString("base64")},${short}`);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/key #2 of 2 is 16 bytes; AES-256 needs 32/);
    expect(message).not.toContain(short);
    expect(() => parseKeys(randomBytes(48).toString("base64"))).toThrow(/48 bytes/);
  });

  it("rejects text that is not base64, and empty list items", () => {
    expect(() => parseKeys(`${keyA.toString("base64").slice(0, 40)}!!!=`)).toThrow(/not valid base64/);
    expect(() => parseKeys(`${keyA.toString("base64")},`)).toThrow(/#2 of 2 is empty/);
  });
});

describe("context binding", () => {
  it("opens only with the context it was sealed with", () => {
    const cipher = createCipher([Buffer.alloc(32, 1)]);
    if (!cipher) throw new Error("no cipher");
    const sealed = cipher.encrypt(Buffer.from("answer"), "key-A");
    expect(cipher.decrypt(sealed, "key-A").toString()).toBe("answer");
    expect(() => cipher.decrypt(sealed, "key-B")).toThrow(/authentication failed/);
    expect(() => cipher.decrypt(sealed)).toThrow(/authentication failed/);
  });
});
