/**
 * Writes the Reply the stages below produced — the gateway's answer (streamed, or buffered
 * after it was stored) or a replay — straight to the client socket, with backpressure.
 * Problems payguard answers itself are not Replies: hono writes those.
 */
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { MiddlewareHandler } from "hono";
import { discardBody } from "../upstream/client.js";
import type { ProxyEnv } from "./context.js";

export function respond(): MiddlewareHandler<ProxyEnv> {
  return async function respond(c, next) {
    await next();
    const reply = c.get("reply");
    if (!reply || c.error) return;
    const { outgoing } = c.env;
    const headers = { ...reply.headers };
    headers["x-request-id"] ??= c.get("requestId");
    if (Buffer.isBuffer(reply.body)) {
      headers["content-length"] = String(reply.body.length);
      delete headers["transfer-encoding"];
      outgoing.writeHead(reply.status, headers);
      outgoing.end(reply.body);
    } else {
      outgoing.writeHead(reply.status, headers);
      const broken = await streamBody(reply.body, outgoing);
      // Headers are out: the only honest signal left is a cut connection.
      if (broken) c.set("streamFlag", broken);
    }
    // The stage that produced the reply returned RESPONSE_ALREADY_SENT, which hono already
    // took as the response. Setting it again would make hono copy it into a new Response
    // (3.7 % of CPU, measured).
    if (!c.finalized || c.res !== RESPONSE_ALREADY_SENT) c.res = RESPONSE_ALREADY_SENT;
  };
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
