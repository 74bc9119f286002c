/**
 * A scripted fake payment gateway: a real node:http server on port 0. Each request takes
 * the next scripted step (or the default), and every request it saw is recorded — with its
 * raw headers and body — so tests can assert what reached the "gateway".
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface Step {
  /** wait this long before doing anything else */
  delayMs?: number;
  /** wait for this before answering (after delayMs): a test's gate, opened once what it waits for has happened */
  until?: Promise<unknown>;
  status?: number;
  headers?: Record<string, string | string[]>;
  /** a string/Buffer is sent as is; anything else as JSON */
  body?: unknown;
  /** send a body of this many bytes (deterministic pattern) in chunks, without Content-Length */
  streamBytes?: number;
  /** pause between streamed chunks */
  chunkDelayMs?: number;
  /** size of each streamed chunk (default 16 KiB) */
  chunkBytes?: number;
  /** "now": destroy the socket without answering; "mid-body": after part of the body */
  destroy?: "now" | "mid-body";
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: Buffer;
  /** sequence number, from 1 */
  at: number;
  /** performance.now() when the request was complete */
  time: number;
}

export type StepFn = (req: SeenRequest) => Step;

export interface FakeGateway {
  readonly url: string;
  readonly requests: SeenRequest[];
  /** queue steps: each request consumes one, in order */
  script(...steps: Step[]): void;
  /** drops any scripted steps not yet consumed */
  clearScript(): void;
  /** clearScript() and the default answer back to the echo: a clean gateway for the next test */
  reset(): void;
  /** what a request gets once the script is empty */
  setDefault(step: Step | StepFn): void;
  /**
   * A standing answer: requests for which `answer` returns a step get it, before and without
   * consuming the script (an SDK's token endpoint, say). reset() removes them.
   */
  answerWhen(answer: (req: SeenRequest) => Step | undefined): void;
  close(): Promise<void>;
}

/** Step helpers, named for what a gateway does. */
export const steps = {
  json: (status: number, body: unknown, headers: Record<string, string | string[]> = {}): Step => ({ status, body, headers }),
  delay: (delayMs: number, step: Step = {}): Step => ({ ...step, delayMs }),
  held: (until: Promise<unknown>, step: Step = {}): Step => ({ ...step, until }),
  reset: (): Step => ({ destroy: "now" }),
  unavailable: (): Step => ({ status: 503, body: { error: { type: "api_error", message: "service unavailable" } } }),
  rateLimited: (retryAfter: string): Step => ({ status: 429, headers: { "retry-after": retryAfter }, body: { error: { type: "rate_limit" } } }),
};

/** A deterministic byte pattern, so streamed bodies can be compared. */
export function patternBytes(n: number, offset = 0): Buffer {
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = (i + offset) % 251;
  return buf;
}

const echo: StepFn = (req) => ({
  status: 200,
  headers: { "request-id": `req_${req.at}` },
  body: { method: req.method, url: req.url, body: req.body.toString("utf8") },
});

/** `tls`: serve HTTPS with this certificate (e.g. issueServerCert of a test CA) instead of plain HTTP; `host`: another loopback address. */
export async function startFakeGateway(options: { tls?: { cert: string; key: string }; host?: string } = {}): Promise<FakeGateway> {
  const requests: SeenRequest[] = [];
  const queue: Step[] = [];
  const standing: ((req: SeenRequest) => Step | undefined)[] = [];
  let fallback: Step | StepFn = echo;
  let counter = 0;
  const sockets = new Set<Socket>();

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    // A client (payguard) may hang up mid-request: that must not crash the gateway.
    handle(req, res).catch(() => res.destroy());
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, listener) : createServer(listener);
  const standingAnswer = (seen: SeenRequest): Step | undefined => {
    for (const answer of standing) {
      const step = answer(seen);
      if (step) return step;
    }
    return undefined;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const seen: SeenRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: { ...req.headers },
      rawHeaders: [...req.rawHeaders],
      body: Buffer.concat(chunks),
      at: ++counter,
      time: performance.now(),
    };
    requests.push(seen);
    const next = standingAnswer(seen) ?? queue.shift() ?? fallback;
    await play(typeof next === "function" ? next(seen) : next, res);
  };
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls ? "https" : "http"}://${host}:${port}`,
    requests,
    script: (...more) => void queue.push(...more),
    clearScript: () => void queue.splice(0),
    reset: () => {
      queue.splice(0);
      standing.splice(0);
      fallback = echo;
    },
    answerWhen: (answer) => void standing.push(answer),
    setDefault: (step) => {
      fallback = step;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function play(step: Step, res: ServerResponse): Promise<void> {
  if (step.delayMs) await sleep(step.delayMs);
  if (step.until) await step.until;
  if (res.destroyed) return;
  if (step.destroy === "now") return void res.socket?.destroy();
  const headers = { ...(step.headers ?? {}) };
  if (step.streamBytes !== undefined) {
    res.writeHead(step.status ?? 200, { "content-type": "application/octet-stream", ...headers });
    const chunk = step.chunkBytes ?? 16 * 1024;
    for (let sent = 0; sent < step.streamBytes; sent += chunk) {
      if (step.destroy === "mid-body" && sent >= step.streamBytes / 2) return void res.socket?.destroy();
      if (step.chunkDelayMs && sent > 0) await sleep(step.chunkDelayMs);
      if (res.destroyed) return;
      const n = Math.min(chunk, step.streamBytes - sent);
      if (!res.write(patternBytes(n, sent))) await new Promise((resolve) => res.once("drain", resolve));
    }
    return void res.end();
  }
  let body: Buffer;
  if (step.body === undefined) body = Buffer.alloc(0);
  else if (typeof step.body === "string" || Buffer.isBuffer(step.body)) body = Buffer.from(step.body as string | Buffer);
  else {
    body = Buffer.from(JSON.stringify(step.body));
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
  }
  if (step.destroy === "mid-body") {
    res.writeHead(step.status ?? 200, { ...headers, "content-length": String(body.length + 100) });
    res.write(body);
    return void res.socket?.destroy();
  }
  res.writeHead(step.status ?? 200, { ...headers, "content-length": String(body.length) });
  res.end(body);
}
