/**
 * The last stage: sends the request to the gateway and streams its answer back unchanged
 * (status, headers minus hop-by-hop, body byte for byte). Failures before the response
 * headers are thrown to the error mapping; a break-off mid-body can only cut the stream.
 */
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Handler } from "hono";
import { statusClass } from "../metrics/registry.js";
import { classifyUpstreamError } from "../upstream/classify.js";
import { toClientHeaders, toUpstreamHeaders } from "../upstream/headers.js";
import type { AppDeps, ProxyEnv } from "./context.js";

export function forward(deps: Pick<AppDeps, "upstream" | "metrics">): Handler<ProxyEnv> {
  return async function forward(c) {
    const { incoming, outgoing } = c.env;
    const route = c.var.route;
    const body = c.var.body;
    const socket = incoming.socket as typeof incoming.socket & { encrypted?: boolean };
    const headers = toUpstreamHeaders(incoming.rawHeaders, {
      upstreamHost: deps.upstream.host,
      requestId: c.var.requestId,
      clientIp: socket.remoteAddress,
      proto: socket.encrypted ? "https" : "http",
      contentLength: body?.length,
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

    const clientHeaders = toClientHeaders(response.headers);
    clientHeaders["x-request-id"] ??= c.var.requestId;
    c.set("upstreamStatus", response.status);
    outgoing.writeHead(response.status, clientHeaders);
    const broken = await streamBody(response.body, outgoing);
    // Headers are out: the only honest signal left is a cut connection.
    if (broken) c.set("streamFlag", broken);
    return RESPONSE_ALREADY_SENT;
  };
}

/**
 * Pipes the gateway's body to the client with backpressure. Resolves when the response is
 * done: undefined on success, "UC" when the gateway broke off, "DC" when the client left.
 * (Plain pipe: stream/promises' pipeline allocates an AbortController per call.)
 */
function streamBody(source: Readable, target: ServerResponse): Promise<"UC" | "DC" | undefined> {
  return new Promise((resolve) => {
    const done = (result: "UC" | "DC" | undefined) => {
      source.off("error", onSourceError);
      target.off("close", onTargetClose);
      resolve(result);
    };
    const onSourceError = () => {
      target.destroy();
      done("UC");
    };
    const onTargetClose = () => {
      if (target.writableFinished) return done(undefined);
      source.destroy();
      done("DC");
    };
    source.on("error", onSourceError);
    target.on("close", onTargetClose);
    source.pipe(target);
  });
}
