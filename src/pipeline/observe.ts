/**
 * First stage: times the request and, once the response has really finished (streamed
 * bodies included), records the metrics and writes the one access-log line. The line holds
 * named fields only: never headers, bodies or the query string. Keyed requests add `record`,
 * the idempotency record's id (a hash) as the admin API knows it; a replay says so in `outcome`.
 */
import type { Context, MiddlewareHandler } from "hono";
import { type AccessWriter, accessWriter } from "../log-access.js";
import { statusClass } from "../metrics/registry.js";
import type { Span } from "../tracing/types.js";
import type { AppDeps } from "./context.js";
import type { ProxyEnv } from "./env.js";
import { splitTarget } from "./target.js";

/** Set here, first: the request's server span (tracing on), parent of every span the later stages start. */
export interface ObserveVars {
  span: Span | undefined;
}

export function observe(deps: Pick<AppDeps, "metrics" | "logger" | "tracing">): MiddlewareHandler<ProxyEnv> {
  // The access line is built below from named scalars only, so the scrub walk has nothing to
  // find in it; other log lines keep it.
  const access = { metrics: deps.metrics, line: accessWriter(deps.logger) };
  return async function observe(c, next) {
    const started = performance.now();
    if (deps.tracing) c.set("span", deps.tracing.request(c.req.method, c.env.incoming.headers));
    await next();
    const outgoing = c.env.outgoing;
    if (outgoing.writableFinished || outgoing.destroyed) record(c, access, started);
    else outgoing.once("close", () => record(c, access, started));
  };
}

function record(c: Context<ProxyEnv>, deps: Pick<AppDeps, "metrics"> & { line: AccessWriter }, started: number): void {
  const durationMs = performance.now() - started;
  const problem = c.get("problem");
  const written = c.get("written");
  const status = written?.status ?? c.res.status;
  const route = c.get("route")?.name ?? "none";
  const method = c.req.method;
  const flag = problem?.flag ?? written?.broken;
  const recordId = c.get("record");
  // the Reply's (a replay's, a stored answer's), else the gateway's answer that broke off
  const gatewayRequestId = written?.gatewayRequestId ?? c.get("gatewayRequestId");
  const outcome = outcomeLabel(c);
  const klass = statusClass(status);
  const span = c.get("span");
  if (span) endServerSpan(c, span, { status, route, flag, outcome });

  deps.metrics.requests.inc({ route, method, status_class: klass, outcome });
  deps.metrics.requestDuration.observe({ route, method, status_class: klass }, durationMs / 1000);

  deps.line({
    reqId: c.get("requestId"),
    route,
    method,
    path: splitTarget(c.env.incoming.url ?? "").path,
    status,
    durationMs: Math.round(durationMs * 10) / 10,
    attempts: c.get("attempts") ?? 0,
    gen: c.get("generation")?.id,
    gateway: c.get("gateway")?.scoped ? c.get("gateway").name : undefined,
    outcome,
    flag: flag || undefined,
    // keyed requests: the idempotency record's id, for GET /admin/records/{id}
    record: recordId || undefined,
    // the gateway's own id for its answer (upstream.requestId), replays included
    gatewayRequestId: gatewayRequestId || undefined,
    traceId: span?.traceId,
  });
}

/**
 * Who made the answer: payguard's problem code (a refusal, or a failure it mapped), else
 * `stream_broken` when the answer broke off, `replay` for a stored answer replayed to a
 * repeated key (no gateway call, so neither gateway traffic nor an error), else `upstream`:
 * the gateway's answer.
 */
function outcomeLabel(c: Context<ProxyEnv>): string {
  const problem = c.get("problem");
  if (problem) return problem.code;
  if (c.get("written")?.broken) return "stream_broken";
  return c.get("replayed") ? "replay" : "upstream";
}

/**
 * The server span's attributes (stable HTTP semantic conventions, plus payguard's own) and
 * its end. `url.path` carries no query string; `http.route` is the matched route's path.
 */
function endServerSpan(c: Context<ProxyEnv>, span: Span, at: { status: number; route: string; flag: string | undefined; outcome: string }): void {
  const route = c.get("route");
  const gateway = c.get("gateway");
  const method = c.req.method;
  if (route?.path) span.rename(`${method} ${route.path}`);
  span.set({
    "http.request.method": method,
    "url.path": c.get("path") ?? originPath(c.env.incoming.url),
    "url.scheme": (c.env.incoming.socket as { encrypted?: boolean }).encrypted ? "https" : "http",
    "http.route": route?.path,
    "http.response.status_code": at.status,
    "payguard.route": at.route,
    "payguard.gateway": gateway?.name,
    "payguard.outcome": at.outcome,
    "payguard.flag": at.flag || undefined,
  });
  // a 5xx, or an answer that broke off mid-body, is a failed request
  span.end(at.status >= 500 ? String(at.status) : at.outcome === "stream_broken" ? at.outcome : undefined);
}

/**
 * The path of an origin-form target, for a request refused before routing; none for any other
 * form (an absolute-form target can carry credentials: `http://user:pw@host/`).
 */
function originPath(target: string | undefined): string | undefined {
  if (!target?.startsWith("/") || target.startsWith("//")) return undefined;
  return splitTarget(target).path;
}
