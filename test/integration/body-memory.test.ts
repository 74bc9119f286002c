/**
 * Request bodies in memory: a declared Content-Length reserves nothing before its bytes
 * arrive, and the bytes held across all requests are bounded by
 * limits.maxBufferedBodyBytes — past it, new bodies get 503 overloaded and nothing is sent.
 * The accounting (the payguard_body_buffered_bytes gauge) returns to 0 however a request
 * ends, so the bound cannot leak shut.
 */
import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { bodyLease, bufferedBodyBytes } from "../../src/pipeline/body-budget.js";
import { bodyPieces } from "../../src/pipeline/body-pieces.js";
import { type SeenRequest, steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { parseRawResponse, rawConversation, send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import type { Running } from "../support/payguard.js";
import { until } from "../support/until.js";

const env = useGateway();
const KIB = 1024;
const MIB = 1024 * KIB;
/** What the gateway saw since `n` requests (its record spans the whole file). */
const since = (n: number): SeenRequest[] => env.gw.requests.slice(n);

async function heldBytes(pg: Running): Promise<number> {
  return sample(await pg.pg.deps.metrics.registry.metrics(), "payguard_body_buffered_bytes");
}

/** A request head; `close` asks the server to close the connection after its answer. */
function head(length: number | "chunked", options: { close?: boolean } = {}): string {
  const framing = length === "chunked" ? "Transfer-Encoding: chunked" : `Content-Length: ${length}`;
  const connection = options.close ? "Connection: close\r\n" : "";
  return `POST /v1/charges HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n${connection}${framing}\r\n\r\n`;
}

/** A client that sends a request head and part of its body, then holds the connection open. */
interface Holder {
  socket: Socket;
  /** everything the server sent so far */
  data(): string;
  closed: Promise<void>;
}

function hold(url: string, payload: string | Buffer): Promise<Holder> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let data = "";
    const socket = connect(Number(port), hostname);
    const closed = new Promise<void>((done) => socket.on("close", () => done()));
    socket.on("data", (d) => (data += d.toString("latin1")));
    socket.on("error", () => {});
    socket.once("connect", () => socket.write(payload, (err) => (err ? reject(err) : resolve({ socket, data: () => data, closed }))));
  });
}

/** The requests the server has received; `flowing` once payguard's body stage is reading them. */
function watchRequests(pg: Running): { all: IncomingMessage[]; flowing: (n: number) => boolean } {
  const all: IncomingMessage[] = [];
  pg.pg.proxyServer.on("request", (req: IncomingMessage) => all.push(req));
  return { all, flowing: (n) => all.length === n && all.every((r) => r.readableFlowing === true) };
}

/**
 * A body of `n` printable ASCII bytes (raw writes send strings as UTF-8) whose pattern does
 * not repeat every few bytes, so a piece copied to the wrong offset shows.
 */
function bodyOf(n: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = 33 + ((i + Math.floor(i / 89)) % 89);
  return buf;
}

describe("a declared Content-Length reserves nothing before its bytes arrive", () => {
  it("64 idle connections declaring 1 MiB each hold far less than 64 MiB of buffer memory", async () => {
    const pg = await env.payguard("idempotency: { mode: off }\nlimits: { maxBodySize: 1mb }");
    const requests = watchRequests(pg);
    const n = 64;
    const before = process.memoryUsage().arrayBuffers;
    const holders = await Promise.all(Array.from({ length: n }, () => hold(pg.url, head(MIB))));
    try {
      await until(() => requests.flowing(n), `${n} requests in payguard's body stage`);
      const grown = process.memoryUsage().arrayBuffers - before;
      // Before the fix each request allocated its declared 1 MiB at once: 64 MiB here.
      expect(grown, `buffer memory grew by ${(grown / MIB).toFixed(1)} MiB for ${n} MiB declared`).toBeLessThan((n * MIB) / 8);
      expect(await heldBytes(pg)).toBe(0);
    } finally {
      for (const h of holders) h.socket.destroy();
    }
    await until(async () => (await heldBytes(pg)) === 0, "the gauge back to 0");
  });

  it("a body trickling in is held as it arrives, never more than a small chunk ahead", async () => {
    const pg = await env.payguard("idempotency: { mode: off }\nlimits: { maxBodySize: 1mb }");
    const holder = await hold(pg.url, Buffer.concat([Buffer.from(head(MIB)), bodyOf(100 * KIB)]));
    try {
      await until(async () => (await heldBytes(pg)) >= 100 * KIB, "the arrived 100 KiB counted");
      const held = await heldBytes(pg);
      expect(held).toBeLessThanOrEqual(100 * KIB + 16 * KIB);
    } finally {
      holder.socket.destroy();
    }
    await until(async () => (await heldBytes(pg)) === 0, "the gauge back to 0");
  });
});

describe("limits.maxBufferedBodyBytes bounds the body bytes held across all requests", () => {
  const limits = "idempotency: { mode: off }\nlimits: { maxBodySize: 64kb, maxBufferedBodyBytes: 64kb, requestTimeout: 2s, headersTimeout: 1s }";

  /** One request holding 60 KiB of a declared 64 KiB: the bound is all but used up. */
  async function fillUp(pg: Running): Promise<Holder> {
    const holder = await hold(pg.url, Buffer.concat([Buffer.from(head(64 * KIB)), bodyOf(60 * KIB)]));
    await until(async () => (await heldBytes(pg)) >= 60 * KIB, "60 KiB held");
    return holder;
  }

  async function post(pg: Running, body: Buffer, framing: "declared" | "chunked" = "declared") {
    const payload =
      framing === "declared"
        ? Buffer.concat([Buffer.from(head(body.length, { close: true })), body])
        : Buffer.concat([Buffer.from(`${head("chunked", { close: true })}${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")]);
    const result = await rawConversation(pg.url, [payload.toString("latin1")], { timeoutMs: 5000 });
    const res = parseRawResponse(result.data);
    const problem = res.headers["content-type"] === "application/problem+json" ? (JSON.parse(res.body) as { code?: string }) : {};
    return { status: res.status, code: problem.code, headers: res.headers, closedByServer: result.closedByServer };
  }

  it("past the bound a new body gets 503 overloaded, the connection closed, and nothing reaches the gateway", async () => {
    const pg = await env.payguard(limits);
    const before = env.gw.requests.length;
    const holder = await fillUp(pg);
    try {
      for (const framing of ["declared", "chunked"] as const) {
        const answer = await post(pg, bodyOf(8 * KIB), framing);
        expect(answer, framing).toMatchObject({ status: 503, code: "overloaded", closedByServer: true });
        expect(answer.headers.connection).toBe("close");
        expect(answer.headers["retry-after"]).toBe("1");
      }
      // At the bound exactly, a new body is refused before a byte of it is read.
      const topUp = await hold(pg.url, `${head("chunked")}1000\r\n${bodyOf(4 * KIB)}\r\n`);
      await until(async () => (await heldBytes(pg)) === 64 * KIB, "the bound reached");
      const headOnly = await rawConversation(pg.url, [head(KIB, { close: true })], { timeoutMs: 1500 });
      expect(parseRawResponse(headOnly.data)).toMatchObject({ status: 503 });
      expect(JSON.parse(parseRawResponse(headOnly.data).body)).toMatchObject({ code: "overloaded" });
      topUp.socket.destroy();
      await until(async () => (await heldBytes(pg)) === 60 * KIB, "the top-up released");
      expect(since(before)).toEqual([]);
      // The request holding the bytes is not disturbed: it completes and is forwarded whole.
      holder.socket.write(bodyOf(64 * KIB).subarray(60 * KIB));
      await until(() => since(before).length === 1, "the held request forwarded");
      expect(since(before)[0]?.body.equals(bodyOf(64 * KIB))).toBe(true);
    } finally {
      holder.socket.destroy();
    }
  });

  it("once the requests holding bytes end, the gauge is back to 0 and new bodies are accepted", async () => {
    const pg = await env.payguard(limits);
    const holder = await fillUp(pg);
    expect((await post(pg, bodyOf(8 * KIB))).status).toBe(503);
    holder.socket.destroy(); // a client abort mid-body
    await until(async () => (await heldBytes(pg)) === 0, "the gauge back to 0 after the abort");
    const body = bodyOf(40 * KIB);
    expect(await post(pg, body)).toMatchObject({ status: 200 });
    expect(env.gw.requests.at(-1)?.body.equals(body)).toBe(true);
    expect(await heldBytes(pg)).toBe(0);
  });

  it("the accounting returns to 0 after aborts, timeouts, 413s and refusals, many times over", async () => {
    const pg = await env.payguard(limits);
    const before = env.gw.requests.length;
    for (let round = 0; round < 3; round++) {
      // client aborts mid-body
      const aborted = await Promise.all(Array.from({ length: 5 }, () => hold(pg.url, Buffer.concat([Buffer.from(head(64 * KIB)), bodyOf(10 * KIB)]))));
      await until(async () => (await heldBytes(pg)) >= 50 * KIB, "five partial bodies held");
      for (const h of aborted) h.socket.destroy();
      await until(async () => (await heldBytes(pg)) === 0, `round ${round}: back to 0 after client aborts`);
      // a chunked body over maxBodySize: 413 mid-body
      expect(await post(pg, bodyOf(70 * KIB), "chunked")).toMatchObject({ status: 413, code: "body_too_large" });
      // a body refused mid-way because the bound is reached: 503
      const holder = await fillUp(pg);
      const late = await hold(pg.url, `${head("chunked")}800\r\n${bodyOf(2 * KIB)}\r\n`);
      await until(async () => (await heldBytes(pg)) >= 62 * KIB, "the late body's first 2 KiB held");
      late.socket.write(`5000\r\n${bodyOf(20 * KIB)}\r\n`);
      await late.closed;
      expect(parseRawResponse(late.data())).toMatchObject({ status: 503 });
      holder.socket.destroy();
      await until(async () => (await heldBytes(pg)) === 0, `round ${round}: back to 0 after 413 and 503`);
    }
    // requestTimeout: a client that stops sending mid-body is cut off, its bytes released
    const stalled = await hold(pg.url, Buffer.concat([Buffer.from(head(64 * KIB)), bodyOf(30 * KIB)]));
    await until(async () => (await heldBytes(pg)) >= 30 * KIB, "the stalled body held");
    await stalled.closed;
    await until(async () => (await heldBytes(pg)) === 0, "back to 0 after the request timeout");
    expect(since(before)).toEqual([]);
    const body = bodyOf(64 * KIB);
    expect(await post(pg, body)).toMatchObject({ status: 200 });
    expect(env.gw.requests.at(-1)?.body.equals(body)).toBe(true);
  });
});

describe("a body is held while its request is in flight, and released however it ends", () => {
  let seq = 0;
  const keyed = (pg: Running, body: Buffer, key = `body-memory-${process.pid}-${++seq}`) =>
    send(pg.url, "/v1/charges", { method: "POST", headers: { "content-type": "application/octet-stream", "idempotency-key": key }, body });
  const backToZero = (pg: Running, after: string) => until(async () => (await heldBytes(pg)) === 0, `the gauge back to 0 after ${after}`);

  it("through retries that re-send it: counted until the answer is sent, then released", async () => {
    const pg = await env.payguard("resilience: { retry: { backoff: { initial: 10ms } } }");
    const body = bodyOf(40 * KIB);
    env.gw.script(steps.delay(300, steps.unavailable()), steps.unavailable(), steps.json(200, { id: "ch_3rd" }));
    const before = env.gw.requests.length;
    const answer = keyed(pg, body);
    await until(() => since(before).length === 1, "the first attempt at the gateway");
    // The body waits in memory for the retries: it is counted, and only its own bytes.
    expect(await heldBytes(pg)).toBe(body.length);
    expect((await answer).status).toBe(200);
    expect(since(before).map((r) => r.body.equals(body))).toEqual([true, true, true]);
    await backToZero(pg, "the answer");
  });

  it("a client gone while its body is at the gateway: counted until the attempt ends", async () => {
    const pg = await env.payguard("idempotency: { mode: off }");
    const requests = watchRequests(pg);
    const body = bodyOf(30 * KIB);
    env.gw.script(steps.delay(400, steps.json(200, {})));
    const before = env.gw.requests.length;
    const client = await hold(pg.url, Buffer.concat([Buffer.from(head(body.length)), body]));
    await until(() => since(before).length === 1, "the request at the gateway");
    client.socket.destroy();
    await until(() => requests.all[0]?.socket.destroyed === true, "payguard saw the client go");
    // The upstream call still holds the body, so the bytes still count.
    expect(await heldBytes(pg)).toBe(body.length);
    await backToZero(pg, "the gateway's late answer");
  });

  it("handed to a background completion: counted while the re-sends hold it, after the client has its answer", async () => {
    const pg = await env.payguard(
      "resilience: { retry: { maxAttempts: 1 }, breaker: { threshold: 1000 } }\nidempotency: { completion: { initialDelay: 50ms, maxDelay: 100ms, maxDuration: 10s } }",
    );
    const body = bodyOf(24 * KIB);
    env.gw.script(steps.reset(), steps.reset(), steps.reset(), steps.json(200, { id: "ch_completed" }));
    const before = env.gw.requests.length;
    expect((await keyed(pg, body)).status).toBe(502);
    await until(() => since(before).length >= 2, "a background re-send");
    expect(await heldBytes(pg)).toBe(body.length);
    await until(() => since(before).length === 4, "the re-send the gateway answers");
    expect(since(before).every((r) => r.body.equals(body))).toBe(true);
    await backToZero(pg, "the completion");
  });

  it("after upstream failures, timeouts, replays and mismatches", async () => {
    // No breaker to open on the failures, no background completion to re-send after a 504.
    const pg = await env.payguard(
      "resilience: { retry: { backoff: { initial: 10ms } }, timeout: { attempt: 200ms, total: 600ms }, breaker: { threshold: 1000 } }\nidempotency: { completion: { maxDuration: 0 } }",
    );
    const body = bodyOf(20 * KIB);
    // the gateway resets every attempt: 502 once the retries are spent
    env.gw.setDefault(steps.reset());
    let before = env.gw.requests.length;
    expect((await keyed(pg, body)).status).toBe(502);
    expect(since(before).length).toBeGreaterThan(1);
    await backToZero(pg, "a 502");
    // the gateway answers too late: 504
    env.gw.setDefault(steps.delay(1500, steps.json(200, {})));
    expect((await keyed(pg, body)).status).toBe(504);
    await backToZero(pg, "a 504");
    // an answer stored, replayed to a repeat, and a repeat with another body refused
    env.gw.setDefault(steps.json(200, { id: "ch_once" }));
    const key = `body-memory-${process.pid}-replayed`;
    before = env.gw.requests.length;
    expect((await keyed(pg, body, key)).status).toBe(200);
    expect((await keyed(pg, body, key)).headers["idempotent-replayed"]).toBe("true");
    expect((await keyed(pg, bodyOf(21 * KIB), key)).status).toBe(422);
    expect(since(before)).toHaveLength(1);
    await backToZero(pg, "a replay and a mismatch");
  });
});

describe("bodies still arrive byte for byte", () => {
  it("a body trickled in small pieces (declared and chunked) reaches the gateway intact", async () => {
    const pg = await env.payguard("idempotency: { mode: off }");
    const body = bodyOf(40 * KIB).toString("latin1");
    const cuts = [0, 1, 7, 300, 301, 5_000, 5_100, 20_000, 20_003, body.length];
    const pieces = cuts.slice(1).map((end, i) => body.slice(cuts[i], end));
    const declared = [head(body.length, { close: true }), ...pieces];
    const chunked = [head("chunked", { close: true }), ...pieces.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`), "0\r\n\r\n"];
    const before = env.gw.requests.length;
    for (const parts of [declared, chunked]) {
      const result = await rawConversation(pg.url, parts, { gapMs: 15, timeoutMs: 8000 });
      expect(parseRawResponse(result.data).status).toBe(200);
      expect(env.gw.requests.at(-1)?.body.toString("latin1")).toBe(body);
    }
    expect(since(before)).toHaveLength(2);
    await until(async () => (await heldBytes(pg)) === 0, "the gauge back to 0");
  });
});

describe("a body's pieces, reserved on its lease", () => {
  it("small chunks are copied into blocks reserved ahead, and the lease is trimmed to the body once joined", () => {
    const lease = bodyLease(MIB);
    try {
      const body = bodyOf(300);
      const pieces = bodyPieces(lease, 64 * KIB);
      expect(pieces.add(body.subarray(0, 100))).toBe(true);
      expect(pieces.add(body.subarray(100, 110))).toBe(true);
      expect(bufferedBodyBytes()).toBe(100 + 16 * KIB);
      expect(pieces.add(body.subarray(110))).toBe(true);
      expect(pieces.join().equals(body)).toBe(true);
      expect(bufferedBodyBytes()).toBe(300);
    } finally {
      lease.release();
    }
    expect(bufferedBodyBytes()).toBe(0);
  });

  it("near the bound, small chunks are taken while their bytes fit, and refused once they do not", () => {
    const lease = bodyLease(10 * KIB);
    try {
      const body = bodyOf(10 * KIB);
      const pieces = bodyPieces(lease, 64 * KIB);
      expect(pieces.add(body.subarray(0, 5 * KIB))).toBe(true);
      // 5 KiB left: a block of 16 KiB would not fit, but the bytes themselves do.
      for (let at = 5 * KIB; at < body.length; at += 1000) expect(pieces.add(body.subarray(at, at + 1000))).toBe(true);
      expect(bufferedBodyBytes()).toBe(10 * KIB);
      expect(pieces.add(Buffer.from("x"))).toBe(false);
      expect(pieces.join().equals(body)).toBe(true);
    } finally {
      lease.release();
    }
    expect(bufferedBodyBytes()).toBe(0);
  });
});

describe("limits.maxBufferedBodyBytes in the config", () => {
  it("defaults to 64 MiB and must hold at least one body of limits.maxBodySize", () => {
    expect(parseConfig("upstream: { url: http://gw }", {}).limits.maxBufferedBodyBytes).toBe(64 * MIB);
    expect(parseConfig("upstream: { url: http://gw }\nlimits: { maxBufferedBodyBytes: 4mb, maxBodySize: 4mb }", {}).limits.maxBufferedBodyBytes).toBe(4 * MIB);
    expect(() => parseConfig("upstream: { url: http://gw }\nlimits: { maxBufferedBodyBytes: 512kb }", {})).toThrow(
      /limits\.maxBufferedBodyBytes: must be ≥ limits\.maxBodySize/,
    );
  });
});
