/**
 * The last stage: sends the request to the gateway through the route's resilience policies
 * (timeouts, bulkhead, retries, circuit breaker) and hands the answer up the pipeline as a
 * streamed Reply (status, headers minus hop-by-hop, body untouched). Every attempt carries
 * the same headers, body and upstream idempotency key; so does `resend`, left for a
 * background completion (pipeline/completion.ts). Failures are thrown to the error mapping.
 */
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Handler } from "hono";
import { requestIdFromHeaders } from "../gateways/request-id.js";
import { newTally } from "../resilience/policy.js";
import { toClientHeaders, toUpstreamHeaders } from "../upstream/headers.js";
import type { ProxyEnv, RequestVars } from "./context.js";

export function forward(): Handler<ProxyEnv> {
  return async function forward(c) {
    const { incoming } = c.env;
    const { upstream, resilience } = c.get("generation");
    const route = c.get("route");
    const body = c.get("body");
    const socket = incoming.socket as typeof incoming.socket & { encrypted?: boolean };
    const headers = toUpstreamHeaders(incoming.rawHeaders, {
      upstreamHost: upstream.host,
      requestId: c.get("requestId"),
      clientIp: socket.remoteAddress,
      proto: socket.encrypted ? "https" : "http",
      contentLength: body?.length,
      upstreamKey: headerKey(c.get("upstreamKey")),
    });
    const method = c.req.method;
    const path = incoming.url as string;
    const bodyTimeoutMs = route.resilience.timeout.attempt;

    const keyed = c.get("upstreamKey") !== undefined;
    const policies = resilience.forRoute(route);
    const send = (signal: AbortSignal) => upstream.send({ method, path, headers, body, signal, bodyTimeoutMs });
    c.set("resend", (signal) => policies.resend(send, signal));
    const tally = newTally();
    try {
      const response = await policies.execute({ method, keyed }, send, tally);
      c.set("reply", { status: response.status, headers: toClientHeaders(response.headers), body: response.body });
      c.set("gatewayRequestId", requestIdFromHeaders(c.get("generation").config.upstream.requestId, response.headers));
    } finally {
      c.set("attempts", tally.attempts);
      c.set("maybeSent", tally.maybeSent > 0);
    }
    return RESPONSE_ALREADY_SENT;
  };
}

/** The key payguard sets as a header; none when the key travels in the body. */
function headerKey(key: RequestVars["upstreamKey"]): { header: string; value: string } | undefined {
  return key?.header === undefined ? undefined : { header: key.header, value: key.value };
}
