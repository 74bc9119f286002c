import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { StageEnv } from "./context.js";

/** Set here, for every later stage and every answer. */
export interface RequestIdVars {
  requestId: string;
}

/** A client-supplied id is kept when it is plain visible ASCII of sane length. */
const VALID_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Propagates `X-Request-Id` or generates one; later stages and every answer carry it.
 * (Not async: a stage with nothing to do after `next` returns its promise, which saves an
 * async frame per request.)
 */
export function requestId(): MiddlewareHandler<StageEnv<RequestIdVars>> {
  return function requestId(c, next) {
    const given = c.env.incoming.headers["x-request-id"];
    c.set("requestId", typeof given === "string" && VALID_ID.test(given) ? given : randomUUID());
    return next();
  };
}
