/**
 * Admin API access: off unless `admin.api.enabled` (then /admin/* answers 404, as if it did
 * not exist), and a bearer token otherwise. Both read the current config generation on every
 * request, so a hot reload turns the API on or off and rotates the token.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { ProxyError } from "../errors.js";
import type { AppDeps } from "../pipeline/context.js";
import type { AdminEnv } from "./audit.js";

export function apiEnabled(deps: Pick<AppDeps, "live">): MiddlewareHandler<AdminEnv> {
  return async function apiEnabled(c, next) {
    if (!deps.live.current.config.admin.api.enabled) return c.notFound();
    await next();
  };
}

/** `Authorization: Bearer <admin.api.token>`, else 401 admin_unauthorized (RFC 6750 §3). */
export function bearerToken(deps: Pick<AppDeps, "live">): MiddlewareHandler<AdminEnv> {
  return async function bearerToken(c, next) {
    const { token } = deps.live.current.config.admin.api;
    const presented = /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "")?.[1];
    // SHA-256 digests have one length, so timingSafeEqual compares in constant time and
    // reveals neither the token's length nor how much of it matched.
    const matches = timingSafeEqual(digest(presented ?? ""), digest(token));
    if (!matches || presented === undefined || token === "") {
      throw new ProxyError("admin_unauthorized", undefined, { "www-authenticate": 'Bearer realm="payguard-admin"' });
    }
    await next();
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
