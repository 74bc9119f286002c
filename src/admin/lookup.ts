/**
 * Finding a record from what the client sent: `GET /admin/records?method=POST&path=/v1/charges&key=<Idempotency-Key>`.
 *
 * The record id is the proxy's store key, scopedKey(scope header values, method, normalised
 * path, key) (../idempotency/key.ts), computed here exactly as the idempotency stage does:
 * - the path is normalised (../pipeline/normalize.ts) without its query, and picks the route
 *   policy in the *current* config generation; that policy's `idempotency.scope` lists the
 *   scope headers. (A record made under an older generation whose scope differed has
 *   another id: find it with the id from the access log line's `record` field.)
 * - each scope header's value comes from the admin request's `Payguard-Scope-<name>` header
 *   (`Payguard-Scope-Authorization: Bearer sk_…`); absent there means absent in the client's
 *   request. Never from the query string: URLs end up in logs, and these are secrets.
 * - the key is parsed like the client's (bare or sf-string quoted).
 */
import type { Context } from "hono";
import { ProxyError } from "../errors.js";
import type { Generation } from "../generation.js";
import { parseIdempotencyKey, scopedKey } from "../idempotency/key.js";
import { normalizePath } from "../pipeline/normalize.js";
import { splitTarget } from "../pipeline/target.js";
import type { AdminEnv } from "./audit.js";

export const SCOPE_HEADER_PREFIX = "payguard-scope-";

export function lookupId(c: Context<AdminEnv>, generation: Generation): string {
  const method = (c.req.query("method") ?? "").toUpperCase();
  const target = c.req.query("path") ?? "";
  const raw = c.req.query("key") ?? "";
  if (!/^[A-Z]{1,16}$/.test(method)) throw new ProxyError("admin_invalid_request", "a lookup needs method (e.g. POST)");
  if (!target.startsWith("/")) throw new ProxyError("admin_invalid_request", "a lookup needs path, the request path starting with '/'");
  const parsed = parseIdempotencyKey(raw);
  if (!parsed.ok) throw new ProxyError("admin_invalid_request", `key: ${parsed.reason}`);
  const path = normalizePath(splitTarget(target).path);
  const gateway = generation.gateway(c.req.query("gateway"));
  if (!gateway) throw new ProxyError("admin_invalid_request", `gateway: not one of ${generation.gateways.map((g) => g.name).join(", ")}`);
  const policy = gateway.routes.match(method, path).idempotency;
  const scopeValues = policy.scope.map((name) => c.req.header(`${SCOPE_HEADER_PREFIX}${name}`));
  return scopedKey({ gateway: gateway.scoped ? gateway.name : undefined, scopeValues, method, path, key: parsed.key });
}
