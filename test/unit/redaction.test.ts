/**
 * Secrets and card data never reach a log line, at any depth: the logger's own scrubbing is
 * checked with random nested objects carrying sensitive member names, logged as a call's
 * object, inside an error, and as a child logger's bindings.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";

/** Names a secret or card field goes by, in the spellings code and headers use. */
const SENSITIVE = [
  "authorization",
  "Authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "X-Api-Key",
  "apiKey",
  "api_key",
  "password",
  "secret",
  "client_secret",
  "token",
  "accessToken",
  "refresh_token",
  "card",
  "number",
  "cardNumber",
  "pan",
  "cvc",
  "CVV",
  "cvc2",
];

function capture() {
  const lines: string[] = [];
  const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
  return { logger, text: () => lines.join("") };
}

/** A value no other part of the output can contain by chance. */
const marker = fc.uuid().map((id) => `MARK-${id}`);

/** A random object tree with one sensitive member, somewhere, holding `secret` (any JSON shape). */
const carrying = (secret: string) =>
  fc
    .record({
      name: fc.constantFrom(...SENSITIVE),
      path: fc.array(fc.stringMatching(/^[a-z]{1,8}$/), { maxLength: 6 }),
      inArray: fc.boolean(),
      shape: fc.constantFrom("string", "object", "array"),
      siblings: fc.dictionary(fc.stringMatching(/^[a-z]{3,8}$/), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    })
    .map(({ name, path, inArray, shape, siblings }) => {
      const value = shape === "string" ? secret : shape === "object" ? { nested: secret } : [secret];
      let node: unknown = { ...siblings, [name]: value };
      for (const step of [...path].reverse()) node = inArray ? { [step]: [node] } : { [step]: node };
      return node as Record<string, unknown>;
    });

describe("log redaction at any depth", () => {
  it("a sensitive member's value never appears, however deep, in a call's object", () => {
    fc.assert(
      fc.property(
        marker.chain((secret) => fc.tuple(fc.constant(secret), carrying(secret))),
        ([secret, object]) => {
          const { logger, text } = capture();
          logger.info(object, "dump");
          logger.flush?.();
          expect(text()).toContain('"msg":"dump"');
          expect(text()).not.toContain(secret);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("nor inside a logged error, nor in a child logger's bindings", () => {
    fc.assert(
      fc.property(
        marker.chain((secret) => fc.tuple(fc.constant(secret), carrying(secret))),
        ([secret, object]) => {
          const { logger, text } = capture();
          const err = Object.assign(new Error("upstream call failed"), object);
          logger.error({ err }, "unhandled error");
          logger.child(object).warn("child line");
          expect(text()).toContain("upstream call failed");
          expect(text()).toContain("child line");
          expect(text()).not.toContain(secret);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("the review's cases: top-level token, password and x-api-key; req.headers.authorization; a.b.card", () => {
    const { logger, text } = capture();
    logger.info({ token: "tok-1", password: "pw-1", "x-api-key": "key-1" }, "top");
    logger.info({ req: { headers: { authorization: "Bearer auth-1" } } }, "request");
    logger.info({ a: { b: { card: "4242424242424242" } } }, "deep");
    for (const value of ["tok-1", "pw-1", "key-1", "auth-1", "4242424242424242"]) expect(text()).not.toContain(value);
    expect(text()).toContain("[redacted]");
  });

  it("keeps everything else, and copes with cycles and binary data", () => {
    const { logger, text } = capture();
    const cyclic: Record<string, unknown> = { route: "default", attempts: 2 };
    cyclic.self = cyclic;
    logger.info({ cyclic, body: Buffer.from("card=4242424242424242") }, "odd");
    expect(text()).toContain('"route":"default"');
    expect(text()).toContain('"attempts":2');
    expect(text()).not.toContain('"type":"Buffer"');
    expect(text()).toContain("[binary: 21 bytes]");
  });
});
