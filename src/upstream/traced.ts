/**
 * One upstream attempt as a CLIENT span (tracing on): the stable HTTP client attributes,
 * `http.request.resend_count` from the second attempt on, and the attempt's own
 * `traceparent` / `tracestate` added to the headers, so the gateway's side of the trace
 * hangs under this attempt. The span ends with the answer's headers (the body streams on)
 * or with the failure's code; a 4xx or 5xx answer marks it failed.
 */
import type { Span } from "../tracing/types.js";
import { classifyUpstreamError } from "./classify.js";
import type { UpstreamClient, UpstreamRequest, UpstreamResponse } from "./client.js";

export async function sendTraced(upstream: UpstreamClient, request: UpstreamRequest, parent: Span, resendCount: number): Promise<UpstreamResponse> {
  const span = parent.child(request.method, "client", {
    "http.request.method": request.method,
    "server.address": upstream.server.address,
    "server.port": upstream.server.port,
    // the path only: a query string may carry what no trace should hold
    "url.full": upstream.base + (request.path.split("?", 1)[0] ?? ""),
    "http.request.resend_count": resendCount > 0 ? resendCount : undefined,
  });
  try {
    const response = await upstream.send({ ...request, headers: [...request.headers, ...span.propagation()] });
    span.set({ "http.response.status_code": response.status });
    // a client span fails on any 4xx or 5xx (HTTP semantic conventions): a decline included
    span.end(response.status >= 400 ? String(response.status) : undefined);
    return response;
  } catch (err) {
    span.end(classifyUpstreamError(err)?.code ?? (err instanceof Error ? err.name : "unknown"));
    throw err;
  }
}
