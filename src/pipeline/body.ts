/**
 * Buffers the request body up to `limits.maxBodySize`, so it can be fingerprinted, stored
 * and re-sent on a retry. Larger bodies get 413 without being read into memory: a declared
 * Content-Length is refused before reading, a chunked body as soon as it crosses the limit,
 * and the connection is closed after the answer.
 *
 * A body with a declared Content-Length is copied into one buffer of that size as it
 * arrives, not gathered and concatenated at the end: for a megabyte body that is a megabyte
 * less memory outside the JS heap per request, and such memory is what starts V8's full
 * collections when large bodies stream in (docs/performance.md#body-size).
 */
import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler, Next } from "hono";
import { ProxyError } from "../errors.js";
import type { ProxyEnv } from "./context.js";

export function body(): MiddlewareHandler<ProxyEnv> {
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

async function withBody(c: Context<ProxyEnv>, next: Next): Promise<void> {
  c.set("body", await readBody(c.env.incoming, c.get("generation").config.limits.maxBodySize));
  await next();
}

function tooLarge(limit: number): ProxyError {
  return new ProxyError("body_too_large", `limit is ${limit} bytes`, { connection: "close" });
}

export function readBody(incoming: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = incoming.headers["content-length"];
  const chunked = incoming.headers["transfer-encoding"] !== undefined;
  if (declared === undefined && !chunked) return Promise.resolve(undefined);
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));

  return new Promise((resolve, reject) => {
    // node:http delivers exactly the declared length, or ends the request incomplete.
    const into = declared === undefined ? undefined : Buffer.allocUnsafe(Number(declared));
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onError);
      incoming.off("close", onClose);
    };
    const fail = (err: ProxyError) => {
      cleanup();
      incoming.pause();
      chunks.length = 0;
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(tooLarge(limit));
      if (!into) chunks.push(chunk);
      else if (size <= into.length) chunk.copy(into, size - chunk.length);
      else fail(new ProxyError("invalid_request", "the request body is longer than its Content-Length"));
    };
    const onEnd = () => {
      cleanup();
      resolve(into ? into.subarray(0, size) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new ProxyError("invalid_request", "the request body could not be read", {}, { cause: err }));
    };
    const onClose = () => {
      if (incoming.complete) return;
      cleanup();
      reject(new ProxyError("client_disconnected"));
    };
    incoming.on("data", onData);
    incoming.on("end", onEnd);
    incoming.on("error", onError);
    incoming.on("close", onClose);
  });
}
