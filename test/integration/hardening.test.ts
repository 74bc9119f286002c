/**
 * Hostile input over real sockets: every case sends raw bytes and checks both the answer
 * (status, problem code) and that the fake gateway saw nothing it should not have.
 */
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { parseRawResponse, rawConversation, rawExchange } from "../support/http.js";
import { type Running, startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";

const env = useGateway();

/** payguard in front of the gateway under the base path /base. */
function behindBase(extra = "idempotency: { mode: off }"): Promise<Running> {
  return env.payguard(extra, `${env.gw.url}/base`);
}

/** Problem code of a raw answer, if it is a payguard problem. */
function problemCode(raw: string): string | undefined {
  const { body, headers } = parseRawResponse(raw);
  if (headers["content-type"] !== "application/problem+json") return undefined;
  return (JSON.parse(body.slice(body.indexOf("{"), body.lastIndexOf("}") + 1)) as { code?: string }).code;
}

/** Sends `payload`, expects `status`/`code` and the connection closed, and nothing at the gateway. */
async function expectRefused(pg: Running, payload: string, status: number, code: string): Promise<void> {
  const before = env.gw.requests.length;
  const result = await rawConversation(pg.url, [payload], { timeoutMs: 3000 });
  const res = parseRawResponse(result.data);
  expect(res.status, `answer to ${JSON.stringify(payload.slice(0, 120))}`).toBe(status);
  expect(problemCode(result.data)).toBe(code);
  expect(res.headers.connection).toBe("close");
  expect(result.closedByServer).toBe(true);
  // Only one answer on the socket: nothing pipelined behind the refused request was served.
  expect(result.data.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
  expect(env.gw.requests.slice(before)).toEqual([]);
}

const SMUGGLED = "GET /v1/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

describe("request smuggling: ambiguous framing is refused with 400 and never forwarded", () => {
  const cases: [string, string][] = [
    [
      "Content-Length with Transfer-Encoding (CL.TE)",
      `POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX`,
    ],
    [
      "Transfer-Encoding with Content-Length (TE.CL)",
      `POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
    ],
    ["duplicate Content-Length, different values", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"],
    // Node (llhttp) refuses a repeated Content-Length even with the same value: safe.
    ["duplicate Content-Length, identical values", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd"],
    ["Content-Length as a list", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd"],
    ["Content-Length with a sign", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd"],
    ["obs-fold (a header line starting with a space)", "GET /v1/charges HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n"],
    ["obs-fold (a header line starting with a tab)", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\tchunked\r\n\r\n0\r\n\r\n"],
    ["Transfer-Encoding: chunked, identity", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"],
    [
      "Transfer-Encoding: identity, chunked (a coding payguard would not decode)",
      "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
    ],
    ["Transfer-Encoding: gzip, chunked", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"],
    ["Transfer-Encoding: xchunked", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"],
    ["two Transfer-Encoding headers", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    ["a chunk size that is not hex", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"],
    ["a negative chunk size", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n"],
    ["an overflowing chunk size", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n"],
    ["a chunk size line ending in a bare LF", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"],
    ["whitespace before the colon (Content-Length)", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\nabcd"],
    ["whitespace before the colon (Transfer-Encoding)", "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"],
    ["bare LF line endings", "GET /v1/charges HTTP/1.1\nHost: x\n\n"],
    ["one header ending in a bare LF", "GET /v1/charges HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"],
    ["a NUL in a header value", "GET /v1/charges HTTP/1.1\r\nHost: x\r\nX-A: b\0c\r\n\r\n"],
    [
      "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)",
      "POST /v1/charges HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ["two Host headers", "GET /v1/charges HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"],
    ["an HTTP/1.1 request without Host", "GET /v1/charges HTTP/1.1\r\n\r\n"],
  ];
  for (const [name, payload] of cases) {
    it(`${name}: 400 invalid_request, connection closed, nothing pipelined behind it gets through`, async () => {
      const pg = await behindBase();
      // A second, well-formed request right behind the bad one must die with the connection.
      await expectRefused(pg, payload + SMUGGLED, 400, "invalid_request");
    });
  }

  it("CL+TE whose body carries a second request: the gateway sees no request at all", async () => {
    const pg = await behindBase();
    const smuggled = "GET /v1/admin HTTP/1.1\r\nHost: x\r\n\r\n";
    const body = `0\r\n\r\n${smuggled}`;
    const payload = `POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
    await expectRefused(pg, payload, 400, "invalid_request");
  });

  it("HTTP/1.0 + Transfer-Encoding + keep-alive with a pipelined request: neither reaches the gateway (regression: both did)", async () => {
    const pg = await behindBase();
    const payload = `POST /v1/charges HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`;
    await expectRefused(pg, payload, 400, "invalid_request");
  });

  it("garbage pipelined behind a request in flight: that request gets its own answer, then the connection closes (regression: it got the 400)", async () => {
    const pg = await behindBase();
    env.gw.script(steps.delay(200, steps.json(200, { id: "ch_first" })));
    const before = env.gw.requests.length;
    const result = await rawConversation(pg.url, [`GET /v1/charges/ch_first HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n${SMUGGLED}`], { timeoutMs: 3000 });
    const res = parseRawResponse(result.data);
    expect(res.status).toBe(200);
    expect(res.body).toContain("ch_first");
    expect(res.headers.connection).toBe("close");
    expect(result.closedByServer).toBe(true);
    expect(env.gw.requests.slice(before).map((r) => r.url)).toEqual(["/base/v1/charges/ch_first"]);
  });

  it("a well-formed chunked request still goes through, re-framed with Content-Length", async () => {
    const pg = await behindBase();
    const raw = await rawExchange(
      pg.url,
      "POST /v1/charges HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
    );
    expect(parseRawResponse(raw).status).toBe(200);
    const seen = env.gw.requests.at(-1);
    expect(seen?.body.toString()).toBe("abc");
    expect(seen?.headers["content-length"]).toBe("3");
    expect(seen?.headers["transfer-encoding"]).toBeUndefined();
  });

  it("stays strict under NODE_OPTIONS=--insecure-http-parser (the server sets insecureHTTPParser: false)", async () => {
    const file = writeTempConfig(testConfigYaml(`${env.gw.url}/base`, "idempotency: { mode: off }"));
    const child = await startChild(file, { NODE_OPTIONS: "--insecure-http-parser" });
    try {
      const before = env.gw.requests.length;
      for (const payload of [
        "GET /v1/charges HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
        "GET /v1/charges HTTP/1.1\nHost: x\n\n",
        `POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX`,
      ]) {
        const raw = await rawExchange(child.url, payload + SMUGGLED, 3000);
        expect(parseRawResponse(raw).status).toBe(400);
      }
      expect(env.gw.requests.slice(before)).toEqual([]);
    } finally {
      child.proc.kill("SIGKILL");
      await child.exited;
    }
  });
});

describe("slow clients: header and body timeouts close the connection", () => {
  const limits = "idempotency: { mode: off }\nlimits: { headersTimeout: 300ms, requestTimeout: 800ms }";

  it("slowloris: header bytes trickling in are cut off after headersTimeout", async () => {
    const pg = await behindBase(limits);
    const header = "GET /v1/charges HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    const parts = [header, ..."a".repeat(100).split(""), "\r\n\r\n"];
    const before = env.gw.requests.length;
    const result = await rawConversation(pg.url, parts, { gapMs: 50, timeoutMs: 6000 });
    expect(result.closedByServer).toBe(true);
    // Cut within headersTimeout plus one checking interval (150 ms here), with slack for CI.
    expect(result.ms).toBeLessThan(2000);
    expect(result.written).toBeLessThan(parts.length);
    expect(result.data === "" || result.data.startsWith("HTTP/1.1 408")).toBe(true);
    expect(env.gw.requests.slice(before)).toEqual([]);
  });

  it("the admin listener cuts a slowloris client too", async () => {
    const pg = await behindBase(limits);
    const parts = ["GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ", ..."a".repeat(100).split(""), "\r\n\r\n"];
    const result = await rawConversation(pg.adminUrl, parts, { gapMs: 50, timeoutMs: 6000 });
    expect(result.closedByServer).toBe(true);
    expect(result.ms).toBeLessThan(2000);
    expect(result.written).toBeLessThan(parts.length);
  });

  it("a body trickling in is cut off after requestTimeout and never forwarded", async () => {
    const pg = await behindBase(limits);
    const parts = ["POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", ..."b".repeat(100).split("")];
    const before = env.gw.requests.length;
    const result = await rawConversation(pg.url, parts, { gapMs: 50, timeoutMs: 8000 });
    expect(result.closedByServer).toBe(true);
    expect(result.ms).toBeLessThan(3000);
    expect(result.written).toBeLessThan(parts.length);
    expect(env.gw.requests.slice(before)).toEqual([]);
  });

  it("an idle connection that never sends a byte is closed too", async () => {
    const pg = await behindBase(limits);
    const result = await rawConversation(pg.url, [""], { timeoutMs: 8000 });
    expect(result.closedByServer).toBe(true);
    expect(result.ms).toBeLessThan(6000);
  });

  it("a prompt request on the same instance is served normally", async () => {
    const pg = await behindBase(limits);
    const raw = await rawExchange(pg.url, "GET /v1/charges HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(parseRawResponse(raw).status).toBe(200);
  });
});

describe("header limits", () => {
  it("more header fields than limits.maxHeaders: 431 headers_too_large, never forwarded", async () => {
    const pg = await behindBase("idempotency: { mode: off }\nlimits: { maxHeaders: 10 }");
    const fields = (n: number) => ["Host: x", ...Array.from({ length: n - 1 }, (_, i) => `X-F${i}: v`)].join("\r\n");
    await expectRefused(pg, `GET /v1/charges HTTP/1.1\r\n${fields(11)}\r\n\r\n`, 431, "headers_too_large");
    const raw = await rawExchange(pg.url, `GET /v1/charges HTTP/1.1\r\n${fields(9)}\r\nConnection: close\r\n\r\n`);
    expect(parseRawResponse(raw).status).toBe(200);
  });

  it("headers over limits.maxHeaderSize: Node's 431, answered as a headers_too_large problem, never forwarded", async () => {
    const pg = await behindBase("idempotency: { mode: off }\nlimits: { maxHeaderSize: 1kb }");
    await expectRefused(pg, `GET /v1/charges HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(2048)}\r\n\r\n`, 431, "headers_too_large");
  });
});

describe("idempotency key limits: 400 idempotency_key_invalid, never forwarded", () => {
  const cases: [string, string][] = [
    ["256 characters", `Idempotency-Key: ${"k".repeat(256)}`],
    ["256 characters quoted", `Idempotency-Key: "${"k".repeat(256)}"`],
    ["empty", "Idempotency-Key: "],
    ["empty quoted", 'Idempotency-Key: ""'],
    ["a list", "Idempotency-Key: a, b"],
    ["two header lines", "Idempotency-Key: a\r\nIdempotency-Key: b"],
    ["a tab inside", "Idempotency-Key: a\tb"],
    ["a space inside", "Idempotency-Key: a b"],
    ["a malformed quoted string", 'Idempotency-Key: "abc\\x"'],
    ["an unterminated quoted string", 'Idempotency-Key: "abc'],
    ["a non-ASCII byte", "Idempotency-Key: k\xe9y"],
    ["a non-breaking space before the key (regression: trimmed away)", "Idempotency-Key: \xa0key-1"],
  ];
  for (const [name, header] of cases) {
    it(name, async () => {
      const pg = await behindBase("");
      const body = '{"amount":1}';
      await expectRefused(
        pg,
        `POST /v1/charges HTTP/1.1\r\nHost: x\r\n${header}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        400,
        "idempotency_key_invalid",
      );
    });
  }

  it("a control character in the key is refused by the parser (400 invalid_request), never forwarded", async () => {
    const pg = await behindBase("");
    await expectRefused(pg, "POST /v1/charges HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\nContent-Length: 0\r\n\r\n", 400, "invalid_request");
  });

  it("255 visible ASCII characters, bare or quoted, are one and the same key", async () => {
    const pg = await behindBase("");
    const special = "!#$%&'()*+,-./:;<=>?@[]^_`{|}~\\\"";
    const key = `${special}${"k".repeat(255 - special.length)}`;
    expect(key).toHaveLength(255);
    const body = '{"amount":1}';
    const request = (header: string) =>
      `POST /v1/charges HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${header}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const before = env.gw.requests.length;
    const first = parseRawResponse(await rawExchange(pg.url, request(key)));
    const quoted = `"${key.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
    const second = parseRawResponse(await rawExchange(pg.url, request(quoted)));
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(env.gw.requests.length - before).toBe(1);
  });
});

describe("huge or deeply nested JSON bodies: answered normally, never a crash", () => {
  const post = (key: string, body: string) =>
    `POST /v1/charges HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

  it("100,000 nested arrays are forwarded once (fingerprinted as bytes) and replayed", async () => {
    const pg = await behindBase("");
    const body = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const before = env.gw.requests.length;
    const first = parseRawResponse(await rawExchange(pg.url, post("deep-1", body), 10_000));
    expect(first.status).toBe(200);
    const again = parseRawResponse(await rawExchange(pg.url, post("deep-1", body), 10_000));
    expect(again.status).toBe(200);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(env.gw.requests.length - before).toBe(1);
    expect(env.gw.requests.at(-1)?.body.length).toBe(200_000);
  });

  it("a body arriving in pieces (declared Content-Length) reaches the gateway byte for byte", async () => {
    const pg = await behindBase("");
    // Distinct bytes at every offset, so a piece copied to the wrong place shows.
    const body = JSON.stringify({ items: Array.from({ length: 30_000 }, (_, i) => i) });
    const request = post("pieces-1", body);
    const cuts = [0, 90, 4_000, 70_000, 140_000, request.length];
    const parts = cuts.slice(1).map((end, i) => request.slice(cuts[i], end));
    const before = env.gw.requests.length;
    const result = await rawConversation(pg.url, parts, { gapMs: 30, timeoutMs: 8000 });
    expect(parseRawResponse(result.data).status).toBe(200);
    expect(env.gw.requests.slice(before).map((r) => r.body.toString())).toEqual([body]);
  });

  it("500,000 nested arrays at exactly limits.maxBodySize are forwarded once", async () => {
    const pg = await behindBase("limits: { maxBodySize: 1000000 }");
    const body = `${"[".repeat(500_000)}${"]".repeat(500_000)}`;
    const before = env.gw.requests.length;
    const res = parseRawResponse(await rawExchange(pg.url, post("deep-2", body), 10_000));
    expect(res.status).toBe(200);
    expect(env.gw.requests.length - before).toBe(1);
  });

  it("over fingerprint.canonicalMaxBytes, a JSON body is compared by its bytes: the same bytes replay, a reordering gets 422", async () => {
    const pg = await behindBase("");
    const members = Array.from({ length: 10_000 }, (_, i) => `"k${i}":${i}`);
    const body = `{${members.join(",")}}`;
    const reordered = `{${members.reverse().join(",")}}`;
    expect(Buffer.byteLength(body)).toBeGreaterThan(64 * 1024);
    env.gw.setDefault(steps.json(200, { id: "ch_large" }));
    const before = env.gw.requests.length;
    expect(parseRawResponse(await rawExchange(pg.url, post("large-1", body), 10_000)).status).toBe(200);
    const same = parseRawResponse(await rawExchange(pg.url, post("large-1", body), 10_000));
    expect(same.headers["idempotent-replayed"]).toBe("true");
    expect(parseRawResponse(await rawExchange(pg.url, post("large-1", reordered), 10_000)).status).toBe(422);
    expect(env.gw.requests.length - before).toBe(1);
  });

  it("a body of exactly limits.maxBodySize with tens of thousands of keys is forwarded once and, canonicalMaxBytes raised to it, compared by value", async () => {
    const limit = 1024 * 1024;
    const pg = await behindBase(`limits: { maxBodySize: ${limit} }\nidempotency: { fingerprint: { canonicalMaxBytes: ${limit} } }`);
    const members: string[] = [];
    let length = 2;
    for (let i = 0; length < limit - 40; i++) {
      members.push(`"k${i}":${i}`);
      length += members.at(-1)?.length ?? 0;
      length += 1;
    }
    const head = `{${members.join(",")}`;
    const body = `${head},"pad":"${"p".repeat(limit - head.length - 10)}"}`;
    expect(Buffer.byteLength(body)).toBe(limit);
    // A short answer (the echo of a 1 MB body would be too large to store and replay).
    env.gw.setDefault(steps.json(200, { id: "ch_wide" }));
    const before = env.gw.requests.length;
    const first = parseRawResponse(await rawExchange(pg.url, post("wide-1", body), 10_000));
    expect(first.status).toBe(200);
    // The same document with its keys in reverse order: the same request.
    const reordered = JSON.parse(body) as Record<string, unknown>;
    const spaced = `{${Object.keys(reordered)
      .reverse()
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(reordered[k])}`)
      .join(",")}}`;
    expect(Buffer.byteLength(spaced)).toBe(limit);
    const again = parseRawResponse(await rawExchange(pg.url, post("wide-1", spaced), 10_000));
    expect(again.status).toBe(200);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(env.gw.requests.length - before).toBe(1);
    // One byte over: 413, not forwarded.
    const over = parseRawResponse(await rawExchange(pg.url, post("wide-2", `${body} `), 10_000));
    expect(over.status).toBe(413);
    expect(env.gw.requests.length - before).toBe(1);
  });
});

describe("path traversal: nothing reaches the gateway outside the upstream base path", () => {
  const rejected = [
    "/../admin",
    "/v1/../../admin",
    "/v1/..",
    "/%2e%2e/admin",
    "/%2E%2e%2fadmin",
    "/v1/%2e%2e%2f%2e%2e%2fadmin",
    "/v1/..%5cadmin",
    "/v1/..%5Cadmin",
    "/v1/.%2e/admin",
    "/v1/%252e%252e/admin",
    "/v1/%25252e%25252e/admin",
    "/v1/%25252525252e%25252525252e/admin",
    "/v1/..;/admin",
    "/./v1/charges",
    "/v1/./charges",
    "/v1/charges/%00",
    "/v1/charges%00.json",
    "/v1/charges/%0d%0aX-Injected:%201",
    "/v1/a%2fb",
    "/v1/..?x=1",
  ];
  for (const path of rejected) {
    it(`${path}: 400 path_rejected`, async () => {
      const pg = await behindBase();
      await expectRefused(pg, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, 400, "path_rejected");
    });
  }

  // A raw backslash is refused by the hono adapter before guard.ts sees it: the same answer.
  for (const path of ["/v1\\..\\admin", "/v1/\\admin"]) {
    it(`${path}: 400 path_rejected`, async () => {
      const pg = await behindBase();
      await expectRefused(pg, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, 400, "path_rejected");
    });
  }

  it("//evil.com/x: 400 absolute_form_rejected", async () => {
    const pg = await behindBase();
    await expectRefused(pg, "GET //evil.com/x HTTP/1.1\r\nHost: x\r\n\r\n", 400, "absolute_form_rejected");
  });

  const allowed = [
    "/v1/files/report.v2.csv",
    "/v1/customers/cus_.x",
    "/v1/a...b/...",
    "/v1/.well-known/x",
    "/v1/charges?next=../x&p=%2e%2e%2f",
    "/v1/%41bc",
    "/v1/%2541bc",
    "/v1/100%25",
  ];
  for (const path of allowed) {
    it(`${path}: forwarded untouched under the base path`, async () => {
      const pg = await behindBase();
      const raw = await rawExchange(pg.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(parseRawResponse(raw).status).toBe(200);
      expect(env.gw.requests.at(-1)?.url).toBe(`/base${path}`);
    });
  }
});

describe("Host and X-Forwarded-* never choose where a request goes", () => {
  it("spoofed Host, X-Forwarded-Host, X-Forwarded-For and Forwarded: the configured upstream, its Host, X-Forwarded-For appended", async () => {
    const pg = await behindBase();
    const raw = await rawExchange(
      pg.url,
      [
        "GET /v1/balance HTTP/1.1",
        "Host: evil.example",
        "X-Forwarded-Host: evil",
        "X-Forwarded-For: 203.0.113.9",
        "X-Forwarded-Proto: https",
        "Forwarded: host=evil;for=198.51.100.1;proto=https",
        "Connection: close",
        "",
        "",
      ].join("\r\n"),
    );
    expect(parseRawResponse(raw).status).toBe(200);
    const seen = env.gw.requests.at(-1);
    expect(seen?.url).toBe("/base/v1/balance");
    expect(seen?.headers.host).toBe(new URL(env.gw.url).host);
    expect(seen?.headers["x-forwarded-for"]).toBe("203.0.113.9, 127.0.0.1");
    expect(seen?.headers["x-forwarded-host"]).toBe("evil, evil.example");
    expect(seen?.headers["x-forwarded-proto"]).toBe("https, http");
    // Forwarded is end-to-end: passed on untouched, and it chose nothing.
    expect(seen?.headers.forwarded).toBe("host=evil;for=198.51.100.1;proto=https");
  });

  it("absolute-form naming another host: 400 absolute_form_rejected, the gateway sees nothing", async () => {
    const pg = await behindBase();
    await expectRefused(pg, "GET http://evil/ HTTP/1.1\r\nHost: evil\r\n\r\n", 400, "absolute_form_rejected");
  });
});

describe("answers payguard makes itself never echo secrets or stack traces", () => {
  const SECRETS = ["sk_live_SECRET123", "4242424242424242", "cvc", "sk_live_secretKEY", "Bearer"];
  /** Stack frames and source locations, not the word "at" in a title. */
  const STACK = [/\n\s*at /, /\bat \S+ \(/, /\.ts:\d/, /\.js:\d/, /node:internal/, /\/work\//, /file:\/\//];

  function expectClean(raw: string, what: string) {
    expect(raw, what).toMatch(/^HTTP\/1\.1 \d{3}/);
    expect(raw.toLowerCase(), what).toContain("payguard-origin: proxy");
    for (const secret of SECRETS) expect(raw, `${what} echoes ${secret}`).not.toContain(secret);
    for (const marker of STACK) expect(raw, `${what} has ${marker}`).not.toMatch(marker);
  }

  const body = JSON.stringify({ amount: 1000, card: { number: "4242424242424242", cvc: "987" } });
  const request = (init: { path?: string; key?: string; body?: string; extra?: string[] } = {}) => {
    const b = init.body ?? body;
    return [
      `POST ${init.path ?? "/v1/charges"} HTTP/1.1`,
      "Host: x",
      "Authorization: Bearer sk_live_SECRET123",
      ...(init.key === undefined ? [] : [`Idempotency-Key: ${init.key}`]),
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(b)}`,
      ...(init.extra ?? []),
      "Connection: close",
      "",
      b,
    ].join("\r\n");
  };

  it("every problem reachable over the socket", async () => {
    const pg = await behindBase(
      "limits: { maxBodySize: 1kb, maxHeaders: 20, maxHeaderSize: 2kb }\nresilience: { timeout: { attempt: 300ms, total: 1s }, retry: { maxAttempts: 1 } }",
    );
    const answers: [string, string][] = [];
    const ask = async (what: string, payload: string, status: number) => {
      const raw = await rawExchange(pg.url, payload, 5000);
      expect(parseRawResponse(raw).status, what).toBe(status);
      answers.push([what, raw]);
    };
    await ask("invalid key", request({ key: "sk_live_secretKEY 4242424242424242" }), 400);
    await ask("missing key", request(), 400);
    await ask("413", request({ key: "k-413", body: JSON.stringify({ card: "4242424242424242", cvc: "987", pad: "x".repeat(2000) }) }), 413);
    await ask("first", request({ key: "k-422" }), 200);
    await ask("422", request({ key: "k-422", body: JSON.stringify({ amount: 2, card: "4242424242424242", cvc: "987" }) }), 422);
    await ask("431 maxHeaders", request({ key: "k-431", extra: Array.from({ length: 25 }, (_, i) => `X-Card-${i}: 4242424242424242`) }), 431);
    await ask("431 maxHeaderSize", request({ key: "k-431b", extra: [`X-Card: ${"4242424242424242".repeat(200)}`] }), 431);
    await ask("400 parse error", `${request({ key: "sk_live_secretKEY" }).replace("Host: x", "Host: x\r\n folded")}`, 400);
    await ask("path_rejected", request({ key: "k-path", path: "/v1/../sk_live_SECRET123/4242424242424242" }), 400);
    env.gw.script(steps.reset());
    await ask("502 reset", request({ key: "k-reset" }), 502);
    env.gw.script(steps.delay(1500, steps.json(200, {})));
    await ask("504 timeout", request({ key: "k-timeout" }), 504);

    const refused = createServer();
    await new Promise<void>((resolve) => refused.listen(0, "127.0.0.1", resolve));
    const { port } = refused.address() as { port: number };
    await new Promise<void>((resolve) => refused.close(() => resolve()));
    const down = await env.payguard("", `http://127.0.0.1:${port}/base`);
    const unreachable = await rawExchange(down.url, request({ key: "k-down" }));
    expect(parseRawResponse(unreachable).status).toBe(502);
    expect(unreachable).toContain("upstream_unreachable");
    answers.push(["502 unreachable", unreachable]);

    for (const [what, raw] of answers) if (what !== "first") expectClean(raw, what);
  });
});
