/**
 * The last stage: sends the request to the gateway through the route's resilience policies
 * (timeouts, bulkhead, retries, circuit breaker) and returns the answer up the chain as a
 * streamed Reply (status, headers minus hop-by-hop, body untouched). Every attempt carries
 * the same headers, body and upstream idempotency key; so does `resend`, left for a
 * background completion (pipeline/completion.ts). Failures are thrown to the error mapping.
 */
import { requestIdFromHeaders } from "../gateways/request-id.js";
import { newTally } from "../resilience/policy.js";
import { toClientHeaders, toUpstreamHeaders } from "../upstream/headers.js";
import { sendTraced } from "../upstream/traced.js";
import type { BodyVars } from "./body.js";
import type { ReplyHandler, Resend } from "./context.js";
import type { ObserveVars } from "./observe.js";
import type { RequestIdVars } from "./request-id.js";
import type { RouteVars } from "./route.js";

/** Set here, once the attempts are over (answered or not), for the stages above and the error mapping. */
export interface ForwardVars {
  /** upstream attempts made for this request */
  attempts: number;
  /** whether any attempt may have reached the gateway (decides release vs indeterminate) */
  maybeSent: boolean;
  /** sends this request once more exactly as first sent (a background completion's re-send) */
  resend: Resend;
  /** the gateway's id from its answer's headers, for the access line even when that answer breaks off later */
  gatewayRequestId: string | undefined;
}

/** What a stage above tells this one: the key the gateway sees on every attempt (set by idempotency.ts). */
export interface UpstreamKeyVars {
  /**
   * the idempotency key as the gateway sees it on every attempt, so its own dedupe covers
   * payguard's retries: in `header`, or (no header) inside the body forwarded byte for byte
   */
  upstreamKey: { value: string; header?: string } | undefined;
}

type Vars = ForwardVars & UpstreamKeyVars & RouteVars & BodyVars & RequestIdVars & ObserveVars;

export function forward(): ReplyHandler<Vars> {
  return async function forward(c) {
    const { incoming } = c.env;
    const { upstream, resilience, config } = c.get("gateway");
    const route = c.get("route");
    const body = c.get("body");
    const socket = incoming.socket as typeof incoming.socket & { encrypted?: boolean };
    const upstreamKey = c.get("upstreamKey");
    const span = c.get("span");
    const headers = toUpstreamHeaders(incoming.rawHeaders, {
      upstreamHost: upstream.host,
      requestId: c.get("requestId"),
      clientIp: socket.remoteAddress,
      proto: socket.encrypted ? "https" : "http",
      contentLength: body?.length,
      upstreamKey: upstreamKey?.header === undefined ? undefined : { header: upstreamKey.header, value: upstreamKey.value },
      // traced: each attempt sends its own traceparent (upstream/traced.ts), not the client's
      traced: span !== undefined,
    });
    const method = c.req.method;
    const path = incoming.url as string;
    const bodyTimeoutMs = route.resilience.timeout.attempt;

    const policies = resilience.forRoute(route);
    let sent = 0;
    // every send is one attempt: the request's, then a background completion's (its span the parent)
    const send = (signal: AbortSignal, parent = span) => {
      const request = { method, path, headers, body, signal, bodyTimeoutMs };
      return parent ? sendTraced(upstream, request, parent, sent++) : upstream.send(request);
    };
    c.set("resend", (signal, parent) => policies.resend((s) => send(s, parent), signal));
    const tally = newTally();
    try {
      const response = await policies.execute({ method, keyed: upstreamKey !== undefined }, send, tally);
      const gatewayRequestId = requestIdFromHeaders(config.upstream.requestId, response.headers);
      c.set("gatewayRequestId", gatewayRequestId);
      return { status: response.status, headers: toClientHeaders(response.headers), body: response.body, gatewayRequestId };
    } finally {
      c.set("attempts", tally.attempts);
      c.set("maybeSent", tally.maybeSent > 0);
    }
  };
}
