import { describe, expect, it } from "vitest";
import { canonicalJson, fingerprint, fingerprintOffLoop, MAX_JSON_DEPTH, OFF_LOOP_BYTES } from "../../src/idempotency/fingerprint.js";
import { findKey, isScopeMissing, type KeySources, parseIdempotencyKey, scopedKey } from "../../src/idempotency/key.js";
import { settleFailure, settleResponse } from "../../src/idempotency/outcome.js";

describe("parseIdempotencyKey", () => {
  it.each([
    ["abc-123", "abc-123"],
    ['"abc-123"', "abc-123"],
    ['"a\\"b\\\\c"', 'a"b\\c'],
    ["  padded  ", "padded"],
    ["k".repeat(255), "k".repeat(255)],
  ])("accepts %j as %j", (raw, key) => expect(parseIdempotencyKey(raw)).toEqual({ ok: true, key }));

  it.each(["", '""', "k".repeat(256), "has space", "ünïcode", '"unterminated', '"bad\\escape"', '"a"b"', "tab\there"])("rejects %j", (raw) => {
    expect(parseIdempotencyKey(raw).ok).toBe(false);
  });
});

describe("parseIdempotencyKey with the gateway's limit (idempotency.maxKeyLength)", () => {
  it("accepts up to the limit and rejects one character more, naming the limit", () => {
    expect(parseIdempotencyKey("k".repeat(64), 64)).toEqual({ ok: true, key: "k".repeat(64) });
    expect(parseIdempotencyKey(`"${"k".repeat(65)}"`, 64)).toEqual({ ok: false, reason: "must be 1-64 visible ASCII characters" });
  });
});

describe("findKey: the header, else the body field", () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const sources = (over: Partial<KeySources>): KeySources => ({
    header: undefined,
    contentType: "application/json",
    body: undefined,
    bodyField: "/idempotency_key",
    maxLength: 45,
    prefer: "header",
    ...over,
  });

  it("reads the body field when the header is absent", () => {
    expect(findKey(sources({ body: json({ amount: 1, idempotency_key: "sq-1" }) }))).toEqual({ found: true, from: "body", parse: { ok: true, key: "sq-1" } });
    expect(findKey(sources({ body: json({ a: { "b/c": "deep" } }), bodyField: "/a/b~1c" }))).toMatchObject({ parse: { ok: true, key: "deep" } });
  });

  it("prefers the header, and echoes it as sent", () => {
    expect(findKey(sources({ header: '"h-1"', body: json({ idempotency_key: "sq-1" }) }))).toEqual({
      found: true,
      from: "header",
      echo: '"h-1"',
      parse: { ok: true, key: "h-1" },
    });
  });

  it("finds nothing without a field, in a body that is not JSON, or with bodyField off", () => {
    expect(findKey(sources({ body: json({ amount: 1 }) }))).toEqual({ found: false });
    expect(findKey(sources({ body: Buffer.from("idempotency_key=sq-1"), contentType: "application/x-www-form-urlencoded" }))).toEqual({ found: false });
    expect(findKey(sources({ body: Buffer.from("{not json") }))).toEqual({ found: false });
    expect(findKey(sources({ body: json({ idempotency_key: "sq-1" }), bodyField: false }))).toEqual({ found: false });
    expect(findKey(sources({}))).toEqual({ found: false });
  });

  it("prefers the body field when the gateway dedupes on it, and refuses a header naming another key (review finding)", () => {
    const body = json({ idempotency_key: "sq-1" });
    expect(findKey(sources({ prefer: "body", header: "sq-1", body }))).toEqual({ found: true, from: "body", parse: { ok: true, key: "sq-1" } });
    expect(findKey(sources({ prefer: "body", header: "other", body }))).toMatchObject({
      found: true,
      parse: { ok: false, reason: expect.stringContaining("different keys") },
    });
    expect(findKey(sources({ prefer: "body", header: "h-only", body: json({ amount: 1 }) }))).toMatchObject({
      from: "header",
      parse: { ok: true, key: "h-only" },
    });
  });

  it("takes a body key verbatim: the very string the gateway dedupes on, never trimmed or unquoted (review finding)", () => {
    expect(findKey(sources({ body: json({ idempotency_key: '"k1"' }) }))).toMatchObject({ parse: { ok: true, key: '"k1"' } });
    expect(findKey(sources({ body: json({ idempotency_key: " k1 " }) }))).toMatchObject({ parse: { ok: false } });
  });

  it("applies the same limits as to a header, and refuses what it cannot read unambiguously", () => {
    expect(findKey(sources({ body: json({ idempotency_key: "k".repeat(46) }) }))).toMatchObject({ found: true, parse: { ok: false } });
    expect(findKey(sources({ body: json({ idempotency_key: "has space" }) }))).toMatchObject({ found: true, parse: { ok: false } });
    expect(findKey(sources({ body: json({ idempotency_key: 42 }) }))).toMatchObject({
      found: true,
      parse: { ok: false, reason: expect.stringContaining("string") },
    });
    const twice = Buffer.from('{"idempotency_key":"a","idempotency_key":"b"}');
    expect(findKey(sources({ body: twice }))).toMatchObject({ found: true, parse: { ok: false, reason: expect.stringContaining("ambiguous") } });
  });
});

describe("scopedKey", () => {
  const base = { scopeValues: ["Bearer a"], method: "POST", path: "/v1/charges", key: "k1" };
  it("differs by tenant, method, path and key, and is stable", () => {
    const k = scopedKey(base);
    expect(scopedKey({ ...base })).toBe(k);
    for (const other of [
      { ...base, scopeValues: ["Bearer b"] },
      { ...base, scopeValues: [undefined] },
      { ...base, method: "PATCH" },
      { ...base, path: "/v1/refunds" },
      { ...base, key: "k2" },
    ]) {
      expect(scopedKey(other)).not.toBe(k);
    }
  });

  it("keeps an empty scope value apart from an absent one (requireScope off: neither merges into the other)", () => {
    expect(scopedKey({ ...base, scopeValues: [""] })).not.toBe(scopedKey({ ...base, scopeValues: [undefined] }));
  });

  it("never contains the raw scope value", () => {
    expect(scopedKey({ ...base, scopeValues: ["Bearer sk_live_secret"] })).not.toContain("sk_live");
  });
});

describe("isScopeMissing: a scope header that names no tenant", () => {
  it.each([
    ["absent", undefined],
    ["empty", ""],
    ["blanks", " \t "],
    ["empty lines joined", ", "],
    ["commas only", ",,"],
  ])("%s is missing", (_name, value) => {
    expect(isScopeMissing(value)).toBe(true);
  });

  it.each([
    ["a value", "acct_1"],
    ["a value among empty lines", ", acct_1"],
    ["a no-break space (not HTTP whitespace)", "\u00a0"],
  ])("%s is present", (_name, value) => {
    expect(isScopeMissing(value)).toBe(false);
  });
});

describe("fingerprint", () => {
  const opts: Parameters<typeof fingerprint>[1] = { body: "canonical-json", canonicalMaxBytes: 64 * 1024, ignoreFields: [], headerValues: [] };
  const fp = (body: string, extra: Partial<Parameters<typeof fingerprint>[0]> = {}, o = opts) =>
    fingerprint({ method: "POST", target: "/v1/charges", contentType: "application/json", body: Buffer.from(body), ...extra }, o);

  it("ignores key order and whitespace in JSON", () => {
    expect(fp('{"a":1,"b":{"c":[1,2],"d":null}}')).toBe(fp(' { "b" : { "d":null, "c":[1, 2] }, "a":1 }\n'));
  });

  it("hashes a JSON body over canonicalMaxBytes as bytes: the same bytes match, a reordering does not", () => {
    const small = { ...opts, canonicalMaxBytes: 20 };
    const [a, b] = ['{"a":1,"b":{"c":[1,2]}}', '{"b":{"c":[1,2]},"a":1}'];
    expect(fp(a, {}, small)).toBe(fp(a, {}, small));
    expect(fp(a, {}, small)).not.toBe(fp(b, {}, small));
    expect(fp(a, {}, { ...small, canonicalMaxBytes: a.length })).toBe(fp(b, {}, { ...small, canonicalMaxBytes: a.length }));
  });

  it("sees any change of value, array order, type, query or method", () => {
    const f = fp('{"amount":1000,"items":[1,2]}');
    expect(fp('{"amount":1001,"items":[1,2]}')).not.toBe(f);
    expect(fp('{"amount":1000,"items":[2,1]}')).not.toBe(f);
    expect(fp('{"amount":"1000","items":[1,2]}')).not.toBe(f);
    expect(fp('{"amount":1000,"items":[1,2]}', { target: "/v1/charges?expand=x" })).not.toBe(f);
    expect(fp('{"amount":1000,"items":[1,2]}', { method: "PATCH" })).not.toBe(f);
  });

  it("a repeated member name is hashed as bytes: never equal to the document JSON.parse makes of it", () => {
    expect(canonicalJson('{"amount":1,"amount":100}')).toBeUndefined();
    expect(canonicalJson('{"a":{"b":1,"b":2}}')).toBeUndefined();
    expect(fp('{"amount":1,"amount":100}')).not.toBe(fp('{"amount":100}'));
    // Colons and escaped quotes inside strings are not member names.
    expect(canonicalJson('{"note":"x\\":y","t":"a:b","l":[":","\\":"]}')).toBe('{"l":[":","\\":"],"note":"x\\":y","t":"a:b"}');
    expect(canonicalJson('{"a":{"b":1},"b":{"a":2}}')).toBe('{"a":{"b":1},"b":{"a":2}}');
  });

  it("hashes non-JSON content types and invalid JSON as bytes", () => {
    expect(fp("a=1&b=2", { contentType: "application/x-www-form-urlencoded" })).not.toBe(fp("b=2&a=1", { contentType: "application/x-www-form-urlencoded" }));
    expect(fp('{"a":1, "b":2}', { contentType: "text/plain" })).not.toBe(fp('{"b":2,"a":1}', { contentType: "text/plain" }));
    expect(fp("{not json")).toBe(fp("{not json"));
  });

  it("includes configured header values", () => {
    const withHeader = (v: string) => fp("{}", {}, { ...opts, headerValues: [v] });
    expect(withHeader("acct_1")).not.toBe(withHeader("acct_2"));
  });

  it("leaves out ignored JSON pointers, including escaped tokens and array items", () => {
    expect(canonicalJson('{"a":1,"meta":{"trace/id":"x","keep":2},"list":[{"t":1,"u":2}]}', ["/meta/trace~1id", "/list/0/t", "/missing/path"])).toBe(
      '{"a":1,"list":[{"u":2}],"meta":{"keep":2}}',
    );
  });

  it("survives hostile nesting: hashed as bytes, no stack overflow", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    expect(canonicalJson(deep)).toBeUndefined();
    expect(canonicalJson(`${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`)).toBeDefined();
    expect(fp(deep)).toMatch(/^[\w-]{43}$/);
  });
});

describe("fingerprintOffLoop: a large body hashed on the thread pool", () => {
  const opts: Parameters<typeof fingerprint>[1] = { body: "canonical-json", canonicalMaxBytes: 64 * 1024, ignoreFields: [], headerValues: ["acct_1"] };
  const input = (body: string, contentType = "application/json") => ({ method: "POST", target: "/v1/charges?x=1", contentType, body: Buffer.from(body) });
  const big = `{"items":[${'"x",'.repeat(OFF_LOOP_BYTES)}"end"]}`;

  it("is the same value as fingerprint, on either side of the threshold and of canonicalMaxBytes", async () => {
    const cases = [
      input(big),
      input(big, "application/octet-stream"),
      input('{"b":1,"a":2}'),
      input("{not json"),
      input("x".repeat(OFF_LOOP_BYTES + 1), "text/plain"),
    ];
    for (const c of cases) expect(await fingerprintOffLoop(c, opts)).toBe(fingerprint(c, opts));
    // A body inside a subarray of a larger buffer is hashed as its own bytes (a view, not the whole buffer).
    const framed = Buffer.concat([Buffer.from("garbage-before"), Buffer.from(big), Buffer.from("after")]);
    const view = { ...input(big), body: framed.subarray(14, 14 + big.length) };
    expect(await fingerprintOffLoop(view, opts)).toBe(fingerprint(input(big), opts));
  });

  it("lets the event loop turn while a large body is hashed, and not for a small one", async () => {
    const turnedDuring = async (body: string) => {
      let turned = false;
      setImmediate(() => {
        turned = true;
      });
      await fingerprintOffLoop(input(body, "application/octet-stream"), opts);
      return turned;
    };
    expect(await turnedDuring("x".repeat(4 * 1024 * 1024))).toBe(true);
    expect(await turnedDuring("x".repeat(1024))).toBe(false);
  });
});

describe("settlement rules", () => {
  it("stores statuses in the replay list, never 409/429; 5xx is indeterminate; other statuses release", () => {
    expect(settleResponse(201, ["2xx", "4xx"])).toBe("store");
    expect(settleResponse(402, ["2xx", "4xx"])).toBe("store");
    expect(settleResponse(409, ["2xx", "4xx"])).toBe("release");
    expect(settleResponse(429, ["2xx", "4xx"])).toBe("release");
    expect(settleResponse(500, ["2xx", "4xx"])).toBe("indeterminate");
    expect(settleResponse(500, ["2xx", "5xx"])).toBe("store");
    expect(settleResponse(402, ["2xx"])).toBe("release");
    expect(settleResponse(402, ["2xx", 402])).toBe("store");
    expect(settleResponse(503, ["2xx", "4xx"], [503])).toBe("release");
    expect(settleResponse(503, ["2xx", "5xx"], ["5xx"])).toBe("release");
    expect(settleResponse(502, ["2xx", "4xx"], [503])).toBe("indeterminate");
  });

  it("a failure with no answer releases only when no attempt may have been sent", () => {
    expect(settleFailure(false)).toBe("release");
    expect(settleFailure(true)).toBe("indeterminate");
  });
});

describe("path normalisation (one resource, one record)", () => {
  it.each([
    ["/v1/charges", "/v1/charges"],
    ["/v1/charges/", "/v1/charges"],
    ["//v1///charges", "/v1/charges"],
    ["/v1/%63harges", "/v1/charges"],
    ["/v1/ch%2dx%7E", "/v1/ch-x~"],
    ["/v1/a%2fb", "/v1/a%2Fb"],
    ["/", "/"],
  ])("%s → %s", async (raw, normal) => {
    const { normalizePath } = await import("../../src/pipeline/normalize.js");
    expect(normalizePath(raw)).toBe(normal);
  });
});
