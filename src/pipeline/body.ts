/**
 * Buffers the request body up to `limits.maxBodySize`, so it can be fingerprinted, stored
 * and re-sent on a retry. Larger bodies get 413 without being read into memory: a declared
 * Content-Length is refused before reading, a chunked body as soon as it crosses the limit,
 * and the connection is closed after the answer.
 *
 * Memory is reserved as bytes arrive, never by what a request declares: a client that sends
 * `Content-Length: 1048576` and nothing else holds nothing. Every byte held counts against
 * `limits.maxBufferedBodyBytes` for the whole process (body-budget.ts) until the request
 * ends — answered, refused, aborted or timed out. Past that bound a new body gets 503
 * `overloaded` and is never read, let alone sent.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { MiddlewareHandler, Next } from "hono";
import { ProxyError } from "../errors.js";
import { type BodyLease, bodyLease } from "./body-budget.js";
import { bodyPieces } from "./body-pieces.js";
import type { StageContext, StageEnv } from "./context.js";
import type { RouteVars } from "./route.js";

/** Set here, for the stages that fingerprint, store and send the body. */
export interface BodyVars {
  /** the buffered request body; undefined when the request has none */
  body: Buffer | undefined;
  /** the body's share of limits.maxBufferedBodyBytes (body-budget.ts); a completion retains it */
  bodyLease: BodyLease | undefined;
}

type Vars = BodyVars & Pick<RouteVars, "generation">;

export function body(): MiddlewareHandler<StageEnv<Vars>> {
  return function body(c, next) {
    const { headers } = c.env.incoming;
    // No body (a GET): nothing to wait for, and no async frame for it.
    if (headers["content-length"] === undefined && headers["transfer-encoding"] === undefined) {
      c.set("body", undefined);
      return next();
    }
    return withBody(c, next);
  };
}

async function withBody(c: StageContext<Vars>, next: Next): Promise<void> {
  const { limits } = c.get("generation").config;
  const lease = bodyLease(limits.maxBufferedBodyBytes);
  try {
    c.set("body", await readBody(c.env.incoming, limits.maxBodySize, lease));
    c.set("bodyLease", lease);
    await next();
  } finally {
    releaseWhenDone(c.env.outgoing, lease);
  }
}

/**
 * The body is held while the stages after this one run (every attempt and retry re-sends it)
 * and until the answer is written or the client is gone: release then.
 */
function releaseWhenDone(outgoing: ServerResponse, lease: BodyLease): void {
  if (outgoing.writableFinished || outgoing.destroyed) lease.release();
  else outgoing.once("close", lease.release);
}

function tooLarge(limit: number): ProxyError {
  return new ProxyError("body_too_large", `limit is ${limit} bytes`, { connection: "close" });
}

function overloaded(): ProxyError {
  // The body is left unread, so the connection cannot carry another request.
  return new ProxyError("overloaded", "request bodies held in memory are at limits.maxBufferedBodyBytes", { "retry-after": "1", connection: "close" });
}

/**
 * Reads the body, reserving each arriving chunk on `lease` first. On any failure the lease is
 * released at once; on success the caller releases it when the request ends.
 */
export function readBody(incoming: IncomingMessage, limit: number, lease: BodyLease): Promise<Buffer | undefined> {
  const declared = incoming.headers["content-length"];
  const chunked = incoming.headers["transfer-encoding"] !== undefined;
  if (declared === undefined && !chunked) return Promise.resolve(undefined);
  const length = declared === undefined ? undefined : Number(declared);
  if (length !== undefined && length > limit) return Promise.reject(tooLarge(limit));
  // Past the bound, a new body is refused unread. Below it, a body is admitted whatever it
  // declares — a declared length reserves nothing — and refused mid-way if a chunk cannot fit.
  if (length !== 0 && !lease.admits()) return Promise.reject(overloaded());

  return new Promise((resolve, reject) => {
    // node:http delivers at most the declared length, or ends the request incomplete.
    const pieces = bodyPieces(lease, length ?? limit);
    const cleanup = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
    };
    const fail = (err: ProxyError) => {
      cleanup();
      incoming.pause();
      lease.release();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (pieces.size + chunk.length > limit) return fail(tooLarge(limit));
      if (!pieces.add(chunk)) fail(overloaded());
    };
    const onEnd = () => {
      cleanup();
      resolve(pieces.join());
    };
    const onError = (err: Error) => fail(new ProxyError("invalid_request", "the request body could not be read", {}, { cause: err }));
    const onClose = () => {
      if (!incoming.complete) fail(new ProxyError("client_disconnected"));
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("close", onClose);
  });
}
