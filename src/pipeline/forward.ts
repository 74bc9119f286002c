/**
 * The last stage: sends the request to the gateway and hands its answer up the pipeline as
 * a streamed Reply (status, headers minus hop-by-hop, body untouched). Failures before the
 * response headers are thrown to the error mapping.
 */
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Handler } from "hono";
import { statusClass } from "../metrics/registry.js";
import { classifyUpstreamError } from "../upstream/classify.js";
import { toClientHeaders, toUpstreamHeaders } from "../upstream/headers.js";
import type { AppDeps, ProxyEnv } from "./context.js";

export function forward(deps: Pick<AppDeps, "upstream" | "metrics">): Handler<ProxyEnv> {
  return async function forward(c) {
    const { incoming } = c.env;
    const route = c.var.route;
    const body = c.var.body;
    const socket = incoming.socket as typeof incoming.socket & { encrypted?: boolean };
    const headers = toUpstreamHeaders(incoming.rawHeaders, {
      upstreamHost: deps.upstream.host,
      requestId: c.var.requestId,
      clientIp: socket.remoteAddress,
      proto: socket.encrypted ? "https" : "http",
      contentLength: body?.length,
      upstreamKey: c.var.upstreamKey,
    });
    const timeoutMs = Math.min(route.resilience.timeout.attempt, route.resilience.timeout.total);

    c.set("attempts", c.var.attempts + 1);
    const started = performance.now();
    let response: Awaited<ReturnType<typeof deps.upstream.send>>;
    try {
      response = await deps.upstream.send({ method: c.req.method, path: incoming.url as string, headers, body, timeoutMs });
    } catch (err) {
      const failure = classifyUpstreamError(err);
      deps.metrics.upstreamAttemptDuration.observe({ route: route.name, outcome: failure?.kind ?? "error" }, (performance.now() - started) / 1000);
      throw err;
    }
    deps.metrics.upstreamAttemptDuration.observe({ route: route.name, outcome: statusClass(response.status) }, (performance.now() - started) / 1000);
    c.set("reply", { status: response.status, headers: toClientHeaders(response.headers), body: response.body });
    return RESPONSE_ALREADY_SENT;
  };
}
