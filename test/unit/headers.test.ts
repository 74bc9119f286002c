import { describe, expect, it } from "vitest";
import { classifyUpstreamError, UpstreamTimeoutError } from "../../src/upstream/classify.js";
import { toClientHeaders, toUpstreamHeaders } from "../../src/upstream/headers.js";

const ctx = { upstreamHost: "api.gateway.test", requestId: "rid-1", clientIp: "10.1.2.3", proto: "http", contentLength: 12 };

function asMap(flat: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i < flat.length; i += 2) {
    const name = (flat[i] as string).toLowerCase();
    map.set(name, [...(map.get(name) ?? []), flat[i + 1] as string]);
  }
  return map;
}

describe("request headers towards the gateway", () => {
  it("drops hop-by-hop headers and those named in Connection, keeps the rest in order", () => {
    const out = asMap(
      toUpstreamHeaders(
        [
          "Host",
          "payguard:8080",
          "Connection",
          "keep-alive, X-Secret-Hop",
          "X-Secret-Hop",
          "1",
          "Keep-Alive",
          "timeout=5",
          "Transfer-Encoding",
          "chunked",
          "Upgrade",
          "h2c",
          "Authorization",
          "Bearer t",
          "Idempotency-Key",
          "k1",
          "Accept",
          "a",
          "Accept",
          "b",
          "Expect",
          "100-continue",
        ],
        ctx,
      ),
    );
    for (const gone of ["connection", "x-secret-hop", "keep-alive", "transfer-encoding", "upgrade", "expect"]) expect(out.has(gone)).toBe(false);
    expect(out.get("authorization")).toEqual(["Bearer t"]);
    expect(out.get("idempotency-key")).toEqual(["k1"]);
    expect(out.get("accept")).toEqual(["a", "b"]);
    expect(out.get("host")).toEqual(["api.gateway.test"]);
    expect(out.get("content-length")).toEqual(["12"]);
    expect(out.get("x-request-id")).toEqual(["rid-1"]);
  });

  it("appends to X-Forwarded-* and replaces a client X-Request-Id and Content-Length", () => {
    const out = asMap(
      toUpstreamHeaders(["Host", "pg.local", "X-Forwarded-For", "1.1.1.1", "X-Forwarded-Proto", "https", "X-Request-Id", "evil", "Content-Length", "999"], ctx),
    );
    expect(out.get("x-forwarded-for")).toEqual(["1.1.1.1, 10.1.2.3"]);
    expect(out.get("x-forwarded-proto")).toEqual(["https, http"]);
    expect(out.get("x-forwarded-host")).toEqual(["pg.local"]);
    expect(out.get("x-request-id")).toEqual(["rid-1"]);
    expect(out.get("content-length")).toEqual(["12"]);
  });

  it("never forwards payguard's own request headers (Payguard-Account: a scope the application sets)", () => {
    const out = asMap(toUpstreamHeaders(["Payguard-Account", "acct_42", "PAYGUARD-TRACE", "x", "Payguarded", "kept"], ctx));
    expect(out.has("payguard-account")).toBe(false);
    expect(out.has("payguard-trace")).toBe(false);
    expect(out.get("payguarded")).toEqual(["kept"]);
  });

  it("sends no Content-Length for a request without a body", () => {
    expect(asMap(toUpstreamHeaders(["Host", "x"], { ...ctx, contentLength: undefined })).has("content-length")).toBe(false);
  });
});

describe("response headers towards the client", () => {
  it("drops hop-by-hop and Connection-named headers, keeps values untouched", () => {
    const out = toClientHeaders({
      connection: "x-trace",
      "x-trace": "internal",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      "content-type": "application/json",
      location: "/v1/x",
      "set-cookie": ["a=1", "b=2"],
      "request-id": "req_1",
    });
    expect(out).toEqual({ "content-type": "application/json", location: "/v1/x", "set-cookie": ["a=1", "b=2"], "request-id": "req_1" });
  });

  it("a header named __proto__ is a header, not the object's prototype (found by the property test)", () => {
    const headers = JSON.parse('{"__proto__":"x","content-type":"text/plain"}') as Record<string, string>;
    const out = toClientHeaders(headers);
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toBe("x");
    const dropped = toClientHeaders({ ...headers, connection: "__PROTO__" });
    expect(Object.hasOwn(dropped, "__proto__")).toBe(false);
    expect(Object.getPrototypeOf(dropped)).toBe(null);
  });
});

describe("upstream failure classification", () => {
  it.each([
    [{ code: "ECONNREFUSED" }, "connect", false],
    [{ code: "UND_ERR_CONNECT_TIMEOUT" }, "connect", false],
    [new UpstreamTimeoutError(10), "timeout", true],
    [{ code: "UND_ERR_HEADERS_TIMEOUT" }, "timeout", true],
    [{ code: "UND_ERR_SOCKET", cause: { code: "ECONNRESET" } }, "reset", true],
    [{ name: "SocketError", cause: { code: "ECONNRESET" } }, "reset", true],
  ])("%o → %s (maybe sent: %s)", (err, kind, maybeSent) => {
    expect(classifyUpstreamError(err)).toMatchObject({ kind, maybeSent });
  });

  it("does not claim errors that are not from the upstream call", () => {
    expect(classifyUpstreamError(new TypeError("boom"))).toBeUndefined();
    expect(classifyUpstreamError("string")).toBeUndefined();
  });
});
