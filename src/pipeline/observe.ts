/**
 * First stage: times the request and, once the response has really finished (streamed
 * bodies included), records the metrics and writes the one access-log line. The line holds
 * named fields only: never headers, bodies or the query string.
 */
import type { Context, MiddlewareHandler } from "hono";
import { statusClass } from "../metrics/registry.js";
import type { AppDeps, ProxyEnv } from "./context.js";

export function observe(deps: Pick<AppDeps, "metrics" | "logger">): MiddlewareHandler<ProxyEnv> {
  return async function observe(c, next) {
    const started = performance.now();
    c.set("attempts", 0);
    c.set("maybeSent", false);
    await next();
    const outgoing = c.env.outgoing;
    if (outgoing.writableFinished || outgoing.destroyed) record(c, deps, started);
    else outgoing.once("close", () => record(c, deps, started));
  };
}

function record(c: Context<ProxyEnv>, deps: Pick<AppDeps, "metrics" | "logger">, started: number): void {
  const durationMs = performance.now() - started;
  const problem = c.var.problem;
  const status = c.error ? c.res.status : (c.var.reply?.status ?? c.res.status);
  const route = c.var.route?.name ?? "none";
  const method = c.req.method;
  const flag = problem?.flag ?? c.var.streamFlag;
  const outcome = problem?.code ?? (c.var.streamFlag ? "stream_broken" : "upstream");
  const klass = statusClass(status);

  deps.metrics.requests.inc({ route, method, status_class: klass, outcome });
  deps.metrics.requestDuration.observe({ route, method, status_class: klass }, durationMs / 1000);

  const target = c.env.incoming.url ?? "";
  const query = target.indexOf("?");
  deps.logger.info(
    {
      reqId: c.var.requestId,
      route,
      method,
      path: query === -1 ? target : target.slice(0, query),
      status,
      durationMs: Math.round(durationMs * 10) / 10,
      attempts: c.var.attempts,
      outcome,
      ...(flag ? { flag } : {}),
    },
    "request",
  );
}
