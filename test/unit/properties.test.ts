/**
 * Properties, checked with fast-check over generated input: fingerprint canonicalisation,
 * the config parser's failure mode, header hygiene, idempotency key parsing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { isConfigError, parseConfig } from "../../src/config/load.js";
import { canonicalJson, type FingerprintOptions, fingerprint } from "../../src/idempotency/fingerprint.js";
import { parseIdempotencyKey, scopedKey } from "../../src/idempotency/key.js";
import { pathProblem } from "../../src/pipeline/guard.js";
import { toClientHeaders, toUpstreamHeaders } from "../../src/upstream/headers.js";

/** A tiny deterministic PRNG, so shuffles and whitespace are reproducible from a seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** JSON text of `value` with keys in a shuffled order and random whitespace between tokens. */
function reserialise(value: unknown, random: () => number): string {
  const ws = () => [" ", "\n", "\t", "\r\n", "", ""][Math.floor(random() * 6)] as string;
  if (value === null || typeof value !== "object") return `${ws()}${JSON.stringify(value)}${ws()}`;
  if (Array.isArray(value)) return `${ws()}[${value.map((v) => reserialise(v, random)).join(",")}]${ws()}`;
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
  }
  return `${ws()}{${keys.map((k) => `${ws()}${JSON.stringify(k)}${ws()}:${reserialise((value as Record<string, unknown>)[k], random)}`).join(",")}}${ws()}`;
}

const JSON_OPTS: FingerprintOptions = { body: "canonical-json", canonicalMaxBytes: Number.POSITIVE_INFINITY, ignoreFields: [], headerValues: [] };
const digest = (body: string, contentType = "application/json", options: FingerprintOptions = JSON_OPTS) =>
  fingerprint({ method: "POST", target: "/v1/charges", contentType, body: Buffer.from(body) }, options);

/** Documents that really are JSON values (no undefined, finite numbers) and stay shallow. */
const jsonDoc = fc.jsonValue({ maxDepth: 4 });
const jsonObject = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1 });

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Changes one random place of `value` so that its JSON text differs. */
function mutate(value: Json, random: () => number, fresh: Json): Json {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    if (entries.length > 0 && random() < 0.6) {
      const index = Math.floor(random() * entries.length);
      const [key, child] = entries[index] as readonly [string, Json];
      const changed = mutate(child, random, fresh);
      if (Array.isArray(value)) return value.map((v, i) => (i === index ? changed : v));
      return { ...value, [key]: changed };
    }
    const op = random();
    if (Array.isArray(value)) {
      if (op < 0.5 && value.length > 0) return value.slice(0, -1); // remove an element
      return [...value, fresh]; // add an element
    }
    const keys = Object.keys(value);
    if (op < 0.33 && keys.length > 0) {
      const { [keys[0] as string]: _removed, ...rest } = value; // remove a key
      return rest;
    }
    let name = "renamed";
    while (name in value) name += "_";
    if (op < 0.66 && keys.length > 0) {
      const { [keys[0] as string]: moved, ...rest } = value; // rename a key
      return { ...rest, [name]: moved as Json };
    }
    return { ...value, [name]: fresh }; // add a key
  }
  // A leaf: replace it with something whose JSON differs.
  if (JSON.stringify(fresh) !== JSON.stringify(value)) return fresh;
  return typeof value === "string" ? `${value}x` : [value];
}

describe("fingerprint: canonical JSON", () => {
  it("equal JSON in any key order and whitespace gives an equal digest", () => {
    fc.assert(
      fc.property(jsonDoc, fc.integer(), (value, seed) => {
        expect(digest(reserialise(value, rng(seed)))).toBe(digest(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it("changing a leaf, renaming a key, adding or removing an element gives another digest", () => {
    fc.assert(
      fc.property(jsonDoc, fc.integer(), fc.jsonValue({ maxDepth: 1 }), (value, seed, fresh) => {
        const changed = mutate(value as Json, rng(seed), fresh as Json);
        fc.pre(JSON.stringify(changed) !== JSON.stringify(value));
        expect(digest(reserialise(changed, rng(seed + 1)))).not.toBe(digest(JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it("number literals with different decimal values never share a digest (no double rounding)", () => {
    const literal = fc
      .tuple(fc.boolean(), fc.bigInt({ min: 0n, max: 10n ** 22n }), fc.integer({ min: -30, max: 30 }))
      .map(([negative, mantissa, exp]) => ({ text: `${negative ? "-" : ""}${mantissa}e${exp}`, negative, mantissa, exp }));
    const scaled = (l: { negative: boolean; mantissa: bigint; exp: number }) =>
      (l.negative && l.mantissa !== 0n ? -1n : 1n) * l.mantissa * 10n ** BigInt(l.exp + 30);
    fc.assert(
      fc.property(literal, literal, (a, b) => {
        fc.pre(scaled(a) !== scaled(b));
        expect(digest(`{"amount":${a.text}}`)).not.toBe(digest(`{"amount":${b.text}}`));
      }),
      { numRuns: 1000 },
    );
  });

  it("ignoreFields pointers ignore exactly those fields", () => {
    const pointerToken = (token: string) => token.replace(/~/g, "~0").replace(/\//g, "~1");
    fc.assert(
      fc.property(jsonObject, fc.string(), fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), fc.integer(), (base, name, a, b, seed) => {
        const pointer = `/meta/${pointerToken(name)}`;
        const options = { ...JSON_OPTS, ignoreFields: [pointer] };
        const doc = (v: unknown) => JSON.stringify({ ...base, meta: { [name]: v, kept: 1 } });
        // The ignored field may differ, or be missing: the same request.
        expect(digest(doc(a), undefined, options)).toBe(digest(doc(b), undefined, options));
        expect(digest(JSON.stringify({ ...base, meta: { kept: 1 } }), undefined, options)).toBe(digest(doc(a), undefined, options));
        // A sibling of the ignored field, or any other field, still counts.
        if (name !== "kept")
          expect(digest(JSON.stringify({ ...base, meta: { [name]: a, kept: 2 } }), undefined, options)).not.toBe(digest(doc(a), undefined, options));
        const changed = mutate(base as Json, rng(seed), "fresh-value") as Record<string, Json>;
        fc.pre(JSON.stringify(changed) !== JSON.stringify(base) && !("meta" in changed) && !("meta" in base));
        expect(digest(JSON.stringify({ ...changed, meta: { [name]: a, kept: 1 } }), undefined, options)).not.toBe(digest(doc(a), undefined, options));
      }),
      { numRuns: 200 },
    );
  });

  it("non-JSON content types are hashed by their bytes", () => {
    const contentType = fc.constantFrom(
      "application/x-www-form-urlencoded",
      "text/plain",
      "application/xml",
      "application/jsonp",
      "multipart/form-data; boundary=x",
      "application/json-seq",
    );
    fc.assert(
      fc.property(contentType, jsonObject, fc.integer(), (type, value, seed) => {
        const text = JSON.stringify(value);
        const bytes = { ...JSON_OPTS, body: "bytes" as const };
        expect(digest(text, type)).toBe(digest(text, type, bytes));
        expect(digest(text, type)).toBe(digest(text, "application/json", bytes));
        const other = reserialise(value, rng(seed));
        if (other !== text) expect(digest(other, type)).not.toBe(digest(text, type));
      }),
      { numRuns: 200 },
    );
  });

  it("regressions: bodies a double or a lossy UTF-8 decode cannot tell apart are hashed as bytes", () => {
    const pairs: [string | Buffer, string | Buffer][] = [
      ['{"id":12345678901234567891}', '{"id":12345678901234567890}'],
      ['{"amount":0.10000000000000000001}', '{"amount":0.1}'],
      ['{"amount":1e400}', '{"amount":null}'],
      ['{"amount":1e-400}', '{"amount":0}'],
      [Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xfe, 0x22, 0x7d])],
    ];
    for (const [a, b] of pairs) {
      const fa = fingerprint({ method: "POST", target: "/", contentType: "application/json", body: Buffer.from(a) }, JSON_OPTS);
      const fb = fingerprint({ method: "POST", target: "/", contentType: "application/json", body: Buffer.from(b) }, JSON_OPTS);
      expect(fa, `${a} vs ${b}`).not.toBe(fb);
    }
    // Shortest spellings still compare by value; deep documents fall back to bytes, no stack overflow.
    expect(canonicalJson('{"b":0.30000000000000004,"a":1E+21}')).toBe('{"a":1e+21,"b":0.30000000000000004}');
    expect(canonicalJson(`${"[".repeat(200_000)}${"]".repeat(200_000)}`)).toBeUndefined();
  });
});

describe("config parser: anything but a valid config is a ConfigError listing paths", () => {
  const TOP = ["server", "admin", "upstream", "limits", "shutdown", "reload", "log", "resilience", "idempotency", "store", "routes"];
  const VALID = `server: { host: 127.0.0.1, port: 8080 }
upstream: { url: "http://127.0.0.1:1/base", connections: 4 }
limits: { maxBodySize: 1mb, headersTimeout: 1s, requestTimeout: 2s }
idempotency: { mode: required, ttl: 1h, fingerprint: { ignoreFields: [/meta/x] } }
resilience: { timeout: { attempt: 1s, total: 3s }, retry: { maxAttempts: 2 } }
routes:
  - { name: refunds, path: /v1/refunds, methods: [POST] }
`;

  const SEGMENT = String.raw`(?:[A-Za-z0-9_$-]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\])`;
  const PROBLEM = new RegExp(String.raw`^(?:yaml|\(root\)|${SEGMENT}(?:\.?${SEGMENT})*): \S`, "s");

  /** parseConfig accepts `text` or throws a ConfigError whose problems name paths (into `keys`, if given). */
  function check(text: string, keys: readonly string[] = []): void {
    try {
      parseConfig(text, {});
    } catch (err) {
      if (!isConfigError(err)) throw new Error(`not a ConfigError for ${JSON.stringify(text)}: ${String(err)}`);
      expect(err.problems.length).toBeGreaterThan(0);
      for (const problem of err.problems) {
        // "path: message", the path being yaml, (root), or a path into the document.
        expect(problem, JSON.stringify(text)).toMatch(PROBLEM);
        if (keys.length > 0 && !problem.startsWith("yaml: ")) {
          const first = /^(?:([A-Za-z0-9_$-]+)|\[("(?:[^"\\]|\\.)*")\])/.exec(problem);
          const key = first?.[1] ?? (first?.[2] === undefined ? undefined : (JSON.parse(first[2]) as string));
          expect(problem.startsWith("(root): ") || [...keys, "upstream"].includes(key as string), problem).toBe(true);
        }
      }
    }
  }

  it("arbitrary strings", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" })), (text) => check(text)),
      { numRuns: 400 },
    );
  });

  it("YAML-ish documents built from YAML tokens", () => {
    const token = fc.constantFrom(
      "a",
      "upstream",
      "url",
      "limits",
      ":",
      ": ",
      "- ",
      "\n",
      "  ",
      "{",
      "}",
      "[",
      "]",
      ",",
      "&x ",
      "*x",
      "!!str ",
      "? ",
      "|",
      ">",
      "'",
      '"',
      "#",
      "${X}",
      "${X:-1}",
      "<<: ",
      "---\n",
      "1",
      "1e9",
      "-",
      "~",
      "null",
      "http://h",
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), (tokens) => check(tokens.join(""))),
      { numRuns: 400 },
    );
  });

  it("random JSON objects dumped as YAML", () => {
    const doc = fc.dictionary(fc.oneof(fc.constantFrom(...TOP), fc.string()), fc.jsonValue({ maxDepth: 3 }));
    fc.assert(
      fc.property(doc, (value) => check(toYaml(value), Object.keys(value).concat(TOP))),
      { numRuns: 300 },
    );
  });

  it("random sections of the right names with arbitrary contents", () => {
    const section = fc.dictionary(
      fc.constantFrom("host", "port", "url", "maxBodySize", "mode", "timeout", "attempt", "type", "x"),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const doc = fc.dictionary(fc.constantFrom(...TOP), fc.oneof(section, fc.jsonValue({ maxDepth: 2 })));
    fc.assert(
      fc.property(doc, (value) => check(toYaml(value))),
      { numRuns: 300 },
    );
  });

  it("mutations of a valid config", () => {
    expect(() => parseConfig(VALID, {})).not.toThrow();
    const edit = fc.tuple(fc.nat(VALID.length), fc.nat(8), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let text = VALID;
        for (const [at, remove, insert] of edits) text = text.slice(0, at) + insert + text.slice(at + remove);
        check(text);
      }),
      { numRuns: 400 },
    );
  });

  it("regressions: alias bombs and self-referencing aliases are ConfigErrors, not crashes", () => {
    const lol = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++)
      lol.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    for (const text of [lol.join("\n"), "x: &a\n  y: *a", "upstream: &u { url: http://h, self: *u }"]) {
      expect(() => parseConfig(text, {})).toThrow(expect.objectContaining({ isConfigError: true }));
      check(text);
    }
  });
});

describe("header hygiene", () => {
  const HOP = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
  ];
  const REWRITTEN = ["host", "content-length", "expect", "x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"];
  const tokenChar = fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split(""));
  const randomCase = (name: string, seed: number) => {
    const random = rng(seed);
    return name
      .split("")
      .map((c) => (random() < 0.5 ? c.toUpperCase() : c.toLowerCase()))
      .join("");
  };
  const name = fc.oneof(
    fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 }),
    fc.constantFrom(...HOP, ...REWRITTEN, "x-hop", "authorization", "idempotency-key", "set-cookie", "accept"),
  );
  const value = fc.string({ unit: fc.constantFrom(...' !"#abcXYZ019,;=~\t'.split("")), maxLength: 20 }).map((v) => v.trim());
  /** Random headers, plus (usually) a Connection header naming some of them in random case. */
  const headerList = fc.tuple(fc.array(fc.tuple(name, value, fc.integer()), { maxLength: 20 }), fc.integer(), fc.nat(20)).map(([list, seed, at]) => {
    const headers: (readonly [string, string])[] = list.map(([n, v, s]) => [randomCase(n, s), v] as const);
    const random = rng(seed);
    const listed = headers.filter(() => random() < 0.3).map(([n]) => randomCase(n, seed + 1));
    if (random() < 0.8) headers.splice(at % (headers.length + 1), 0, [randomCase("connection", seed), ["close", ...listed].join(", ")] as const);
    return headers;
  });

  /** Names listed in Connection values, lower-cased. */
  const named = (list: readonly (readonly [string, string])[]) =>
    new Set(
      list
        .filter(([n]) => n.toLowerCase() === "connection")
        .flatMap(([, v]) => v.split(","))
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean),
    );

  it("toUpstreamHeaders keeps every end-to-end header in order, drops hop-by-hop and Connection-named ones, then adds its own", () => {
    fc.assert(
      fc.property(headerList, fc.option(fc.ipV4(), { nil: undefined }), fc.option(fc.nat(10_000), { nil: undefined }), (list, clientIp, contentLength) => {
        const raw: string[] = list.flat();
        const out = toUpstreamHeaders(raw, { upstreamHost: "gw.test:443", requestId: "rid", clientIp, proto: "https", contentLength });
        const dropped = named(list);
        const expected = list.filter(([n]) => {
          const lower = n.toLowerCase();
          return !HOP.includes(lower) && !REWRITTEN.includes(lower) && !dropped.has(lower);
        });
        const pairs: [string, string][] = [];
        for (let i = 0; i < out.length; i += 2) pairs.push([out[i] as string, out[i + 1] as string]);
        // The end-to-end ones first, name and value untouched, in order...
        expect(pairs.slice(0, expected.length)).toEqual(expected.map(([n, v]) => [n, v]));
        // ...then only the rewritten ones payguard documents, each once.
        const added = pairs.slice(expected.length).map(([n]) => n);
        expect(added.every((n) => REWRITTEN.includes(n))).toBe(true);
        expect(new Set(added).size).toBe(added.length);
        expect(pairs.find(([n]) => n === "host")?.[1]).toBe("gw.test:443");
        expect(pairs.find(([n]) => n === "content-length")?.[1]).toBe(contentLength === undefined ? undefined : String(contentLength));
        // X-Forwarded-For is appended to, never replaced.
        const sentFor = list.filter(([n]) => n.toLowerCase() === "x-forwarded-for").map(([, v]) => v);
        const xff = pairs.find(([n]) => n === "x-forwarded-for")?.[1];
        const expectedFor = [...sentFor, ...(clientIp ? [clientIp] : [])];
        expect(xff).toBe(expectedFor.length > 0 ? expectedFor.filter(Boolean).join(", ") || undefined : undefined);
      }),
      { numRuns: 500 },
    );
  });

  it("regression: an empty X-Forwarded-For value adds no empty list element", () => {
    const ctx = { upstreamHost: "gw.test", requestId: "rid", clientIp: "10.0.0.1", proto: "http", contentLength: undefined };
    const xff = (raw: string[]) => {
      const out = toUpstreamHeaders(raw, ctx);
      return out[out.indexOf("x-forwarded-for") + 1];
    };
    expect(xff(["X-Forwarded-For", "203.0.113.1", "X-Forwarded-For", ""])).toBe("203.0.113.1, 10.0.0.1");
    expect(xff(["X-Forwarded-For", "", "X-Forwarded-For", "203.0.113.1"])).toBe("203.0.113.1, 10.0.0.1");
  });

  it("toClientHeaders keeps every end-to-end header (duplicates included) and drops hop-by-hop and Connection-named ones", () => {
    const response = fc
      .tuple(
        fc.dictionary(
          name.map((n) => n.toLowerCase()),
          fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 3 })),
        ),
        fc.integer(),
      )
      .map(([headers, seed]) => {
        const random = rng(seed);
        const listed = Object.keys(headers).filter(() => random() < 0.3);
        if (random() < 0.8) headers.connection = ["keep-alive", ...listed.map((n) => randomCase(n, seed))].join(", ");
        return headers;
      });
    fc.assert(
      fc.property(response, (headers) => {
        const out = toClientHeaders(headers);
        const connection = headers.connection;
        const dropped = named((Array.isArray(connection) ? connection : connection === undefined ? [] : [connection]).map((v) => ["connection", v] as const));
        for (const [n, v] of Object.entries(headers)) {
          if (HOP.includes(n) || dropped.has(n)) expect(out[n], n).toBeUndefined();
          else expect(out[n], n).toEqual(v);
        }
        expect(Object.keys(out).every((n) => n in headers)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe("idempotency keys", () => {
  const visible = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 255 });
  const sfString = (key: string) => `"${key.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

  it("bare and sf-string forms of a key are the same key", () => {
    fc.assert(
      fc.property(visible, (key) => {
        // A bare key starting with a quote is read as an sf-string: that is its only reading.
        if (!key.startsWith('"')) expect(parseIdempotencyKey(key)).toEqual({ ok: true, key });
        expect(parseIdempotencyKey(sfString(key))).toEqual({ ok: true, key });
        expect(parseIdempotencyKey(` \t${sfString(key)}\t `)).toEqual({ ok: true, key });
      }),
      { numRuns: 500 },
    );
  });

  it("anything outside 1-255 visible ASCII is rejected, bare or quoted", () => {
    const bad = fc.oneof(
      fc.constant(""),
      fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 256, maxLength: 400 }),
      fc.tuple(visible, fc.oneof(fc.integer({ min: 0, max: 0x20 }), fc.integer({ min: 0x7f, max: 0x2fff })), fc.nat()).map(([key, code, at]) => {
        const i = at % (key.length + 1);
        return key.slice(0, i) + String.fromCharCode(code) + key.slice(i);
      }),
    );
    fc.assert(
      fc.property(bad, (key) => {
        // Leading/trailing SP and HTAB are header whitespace, not part of the value.
        fc.pre(key.replace(/^[ \t]+|[ \t]+$/g, "") !== "" || key === "");
        const inner = key.replace(/^[ \t]+|[ \t]+$/g, "");
        fc.pre(inner === "" || !/^[\x21-\x7e]{1,255}$/.test(inner));
        if (!inner.startsWith('"')) expect(parseIdempotencyKey(key).ok, JSON.stringify(key)).toBe(false);
        expect(parseIdempotencyKey(sfString(inner)).ok, JSON.stringify(key)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it("scopedKey differs when any component differs", () => {
    const input = fc.record({
      scopeValues: fc.array(fc.option(fc.string(), { nil: undefined }), { minLength: 1, maxLength: 3 }),
      method: fc.constantFrom("POST", "PATCH", "PUT"),
      path: fc.string(),
      key: visible,
    });
    fc.assert(
      fc.property(input, input, (a, b) => {
        const same = JSON.stringify(a) === JSON.stringify(b) && a.scopeValues.every((v, i) => v === b.scopeValues[i]);
        expect(scopedKey(a) === scopedKey(b)).toBe(same);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(input, fc.nat(3), fc.string({ minLength: 1 }), (a, which, extra) => {
        const b = structuredClone(a);
        if (which === 0) b.scopeValues[0] = b.scopeValues[0] === undefined ? "" : undefined;
        else if (which === 1) b.method = a.method === "POST" ? "PATCH" : "POST";
        else if (which === 2) b.path = a.path + extra;
        else b.key = a.key + extra;
        expect(scopedKey(b)).not.toBe(scopedKey(a));
      }),
      { numRuns: 300 },
    );
  });
});

describe("the path rule", () => {
  it("no path it accepts has a dot segment after any amount of percent-decoding, and ordinary segments pass", () => {
    const piece = fc.constantFrom(".", "..", "%2e", "%2E", "%252e", "%25252525252e", "%2f", "%5c", "\\", "%00", "a", "v1", "x.y", ";", "%25", "%41", "%2541");
    const path = fc
      .array(
        fc.array(piece, { minLength: 1, maxLength: 4 }).map((p) => p.join("")),
        { minLength: 1, maxLength: 5 },
      )
      .map((s) => `/${s.join("/")}`);
    fc.assert(
      fc.property(path, (p) => {
        if (pathProblem(p) !== undefined) return;
        let decoded = p;
        for (let i = 0; i < 8; i++) decoded = decoded.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
        expect(
          decoded.split(/[/\\]/).some((s) => s.split(";")[0] === "." || s.split(";")[0] === ".."),
          p,
        ).toBe(false);
        expect(decoded.includes("\0"), p).toBe(false);
      }),
      { numRuns: 1000 },
    );
    const ordinary = fc.array(fc.stringMatching(/^[A-Za-z0-9_.~-]{1,12}$/), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(ordinary, (segments) => {
        fc.pre(segments.every((s) => s !== "." && s !== ".."));
        expect(pathProblem(`/${segments.join("/")}`)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});
