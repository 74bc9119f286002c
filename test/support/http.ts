/** Plain HTTP helpers for tests: undici for normal requests, raw sockets for odd ones. */
import { connect } from "node:net";
import { request } from "undici";

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export async function send(
  base: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const res = await request(new URL(path, base), {
    method: (init.method ?? "GET") as never,
    headers: init.headers,
    body: init.body,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

export function json(answer: Answer): Record<string, unknown> {
  return JSON.parse(answer.body.toString("utf8")) as Record<string, unknown>;
}

/** Writes raw bytes to host:port and returns everything the server sent until it closed. */
export function rawExchange(base: string, payload: string, timeoutMs = 5000): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(payload));
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (d) => (data += d));
    socket.on("error", (err) => (data ? resolve(data) : reject(err)));
    socket.on("close", () => resolve(data));
    socket.setTimeout(timeoutMs, () => socket.destroy());
  });
}

/** Headers a proxy legitimately sets or changes; everything else must match. */
const VARIABLE = new Set(["date", "connection", "keep-alive", "transfer-encoding", "x-request-id"]);

export function comparableHeaders(headers: Answer["headers"]): Record<string, string | string[] | undefined> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !VARIABLE.has(name)));
}

/** Status and lower-cased headers of a raw HTTP/1.1 response (body left as text). */
export function parseRawResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = raw.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1]), headers, body: raw.slice(end + 4) };
}

export interface RawConversation {
  /** everything the server sent */
  data: string;
  /** the server closed the connection (false: still open when the test gave up) */
  closedByServer: boolean;
  /** ms from connecting until the server closed, or until the test gave up */
  ms: number;
  /** how many of the parts were written before the connection closed */
  written: number;
}

/**
 * Writes `parts` to host:port one after another, `gapMs` apart (a slow client), and reports
 * what came back and whether — and when — the server closed the connection.
 */
export function rawConversation(base: string, parts: readonly string[], options: { gapMs?: number; timeoutMs?: number } = {}): Promise<RawConversation> {
  const { hostname, port } = new URL(base);
  const { gapMs = 0, timeoutMs = 5000 } = options;
  return new Promise((resolve) => {
    const started = performance.now();
    let data = "";
    let written = 0;
    let gaveUp = false;
    let timer: NodeJS.Timeout | undefined;
    const socket = connect(Number(port), hostname, () => writeNext());
    const writeNext = () => {
      if (socket.destroyed || written >= parts.length) return;
      socket.write(parts[written++] as string);
      if (written < parts.length) timer = setTimeout(writeNext, gapMs);
    };
    const giveUp = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (d) => (data += d));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(giveUp);
      clearTimeout(timer);
      resolve({ data, closedByServer: !gaveUp, ms: performance.now() - started, written });
    });
  });
}
