/**
 * The stages after the body, as one hono handler: runs them (idempotency, then forward) and
 * writes the Reply they hand back — the gateway's answer (streamed, or buffered after it was
 * stored) or a replay — straight to the client socket, with backpressure. A small answer of
 * declared length is read whole first and written with its headers in one socket write (a
 * pipe writes the headers, each chunk and the end apart). Problems payguard answers itself
 * are not Replies: they are thrown, and the error mapping (problem.ts) writes them.
 */
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Handler } from "hono";
import type { Flag } from "../errors.js";
import { discardBody } from "../upstream/client.js";
import { narrow, type Reply, type ReplyHandler, type StageEnv } from "./context.js";
import type { RequestIdVars } from "./request-id.js";

/** Set here once the Reply is written (or broke off), for the access line. */
export interface RespondVars {
  written: { status: number; gatewayRequestId: string | undefined; broken: Flag | undefined };
}

export function respond<V extends object>(stages: ReplyHandler<V>): Handler<StageEnv<V & RespondVars & RequestIdVars>> {
  return async function respond(c) {
    const reply = await stages(narrow(c));
    const own = narrow<RespondVars & RequestIdVars>(c);
    const broken = await write(reply, own.get("requestId"), c.env.outgoing);
    own.set("written", { status: reply.status, gatewayRequestId: reply.gatewayRequestId, broken });
    return RESPONSE_ALREADY_SENT;
  };
}

/** Writes the Reply; once headers are out (or may be), the only honest signal left is a cut connection. */
async function write(reply: Reply, requestId: string, outgoing: ServerResponse): Promise<Flag | undefined> {
  const headers = { ...reply.headers };
  headers["x-request-id"] ??= requestId;
  if (Buffer.isBuffer(reply.body)) {
    headers["content-length"] = String(reply.body.length);
    delete headers["transfer-encoding"];
    outgoing.writeHead(reply.status, headers);
    outgoing.end(reply.body);
    return undefined;
  }
  return small(headers) ? writeWhole(reply.status, headers, reply.body, outgoing) : writeStreamed(reply.status, headers, reply.body, outgoing);
}

/** Answers up to this many bytes, of declared length, are read whole before they are written. */
export const WHOLE_WRITE_MAX = 16 * 1024;

function small(headers: Record<string, string | string[]>): boolean {
  const declared = headers["content-length"];
  return typeof declared === "string" && Number(declared) <= WHOLE_WRITE_MAX;
}

async function writeStreamed(status: number, headers: Record<string, string | string[]>, body: Readable, outgoing: ServerResponse) {
  outgoing.writeHead(status, headers);
  return streamBody(body, outgoing);
}

/**
 * Reads the gateway's small body whole, then writes headers and body at once. The gateway's
 * Content-Length stays (a HEAD answer declares a body it does not send). If the gateway
 * breaks off first, the client connection is cut as a broken stream would be.
 */
async function writeWhole(status: number, headers: Record<string, string | string[]>, body: Readable, outgoing: ServerResponse) {
  const whole = await readWhole(body);
  if (whole === undefined) {
    outgoing.destroy();
    return "UC";
  }
  if (outgoing.destroyed) return "DC";
  outgoing.writeHead(status, headers);
  outgoing.end(whole);
  return undefined;
}

/** The body read to its end; undefined when it broke off. */
function readWhole(source: Readable): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    source.on("data", (chunk: Buffer) => chunks.push(chunk));
    source.once("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    source.once("error", () => resolve(undefined));
  });
}

/**
 * Pipes the gateway's body to the client. Resolves when the response is done: undefined on
 * success, "UC" when the gateway broke off, "DC" when the client left.
 * (A plain pipe: stream/promises' pipeline allocates an AbortController per call.)
 */
export function streamBody(source: Readable, target: ServerResponse): Promise<"UC" | "DC" | undefined> {
  if (target.destroyed) {
    discardBody(source);
    return Promise.resolve("DC");
  }
  return new Promise((resolve) => {
    const done = (result: "UC" | "DC" | undefined) => {
      source.off("error", onSourceError);
      source.on("error", ignore);
      target.off("close", onTargetClose);
      resolve(result);
    };
    const onSourceError = () => {
      target.destroy();
      done("UC");
    };
    const onTargetClose = () => {
      if (target.writableFinished) return done(undefined);
      done("DC");
      discardBody(source);
    };
    source.on("error", onSourceError);
    target.on("close", onTargetClose);
    source.pipe(target);
  });
}

function ignore(): void {}
