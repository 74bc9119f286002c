/**
 * The audit trail: one log line and one count per admin API call, written once the answer is
 * known (errors included), at info — warn for a refused token. The line holds the action, the
 * record id, the operator's reason and the outcome; never the token, scope header values or
 * bodies.
 */
import type { HttpBindings } from "@hono/node-server";
import type { Context, MiddlewareHandler } from "hono";
import type { AppDeps } from "../pipeline/context.js";

/** "other": any call under /admin that is none of the API's actions (it is audited too). */
export type AdminAction = "list" | "get" | "lookup" | "resolve" | "outcomes" | "events" | "event" | "redeliver" | "redeliver-range" | "other";

export interface AuditFields {
  action: AdminAction;
  record?: string;
  /** resolve: the operator's reason, and who they said they are */
  reason?: string;
  operator?: string;
  resolution?: "complete" | "release";
}

export type AdminEnv = { Bindings: Partial<HttpBindings>; Variables: { audit: AuditFields | undefined } };

/** The metric's and the line's `result`, by status. */
const RESULTS: Record<number, string> = {
  200: "ok",
  400: "invalid",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  501: "not_supported",
  503: "unavailable",
};

export function audit(deps: Pick<AppDeps, "logger" | "metrics">): MiddlewareHandler<AdminEnv> {
  return async function audit(c, next) {
    c.set("audit", { action: actionOf(c) });
    await next();
    const fields = c.get("audit");
    if (!fields) return;
    const status = c.res.status;
    const result = RESULTS[status] ?? "error";
    deps.metrics.adminActions.inc({ action: fields.action, result });
    const line = { audit: true, ...fields, result, status, remote: c.env?.incoming?.socket.remoteAddress };
    if (status === 401) deps.logger.warn(line, "admin api");
    else deps.logger.info(line, "admin api");
  };
}

/** Adds to the call's audit fields (record id, reason, resolution) as the handler learns them. */
export function noteAudit(c: Context<AdminEnv>, fields: Partial<AuditFields>): void {
  const current = c.get("audit");
  if (current) c.set("audit", { ...current, ...fields });
}

/**
 * Known before authentication, so a refused call is audited under its action too. Every
 * call under /admin is audited — a token guessed by HEAD or PUT leaves its trail as well;
 * HEAD is GET without the body (hono runs the GET handler).
 */
function actionOf(c: Context<AdminEnv>): AdminAction {
  const parts = c.req.path.split("/").filter(Boolean); // ["admin", "records", id?, "resolve"?]
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  if (parts[0] === "admin" && parts[1] === "webhooks") return webhookAction(method, parts);
  if (parts[0] === "admin" && parts[1] === "outcomes") return method === "GET" && parts.length === 2 ? "outcomes" : "other";
  if (parts[0] !== "admin" || parts[1] !== "records") return "other";
  if (method === "POST" && parts.length === 4 && parts[3] === "resolve") return "resolve";
  if (method !== "GET") return "other";
  if (parts.length === 3) return "get";
  if (parts.length === 2) return c.req.query("key") === undefined ? "list" : "lookup";
  return "other";
}

/** ["admin", "webhooks", gateway?, eventId?, "redeliver"?] or ["admin", "webhooks", "redeliver"] */
function webhookAction(method: string, parts: string[]): AdminAction {
  if (method === "POST" && parts.length === 5 && parts[4] === "redeliver") return "redeliver";
  if (method === "POST" && parts.length === 3 && parts[2] === "redeliver") return "redeliver-range";
  if (method !== "GET") return "other";
  if (parts.length === 2) return "events";
  return parts.length === 4 ? "event" : "other";
}
