/**
 * The proxy as a hono app, read top to bottom as the request travels. buildApp never
 * listens: server.ts puts it on a socket, tests may too.
 */

import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { Hono } from "hono";
import { describeError, isProxyError, problemResponse, toProxyError } from "./errors.js";
import { body } from "./pipeline/body.js";
import type { AppDeps, ProxyEnv } from "./pipeline/context.js";
import { forward } from "./pipeline/forward.js";
import { guard } from "./pipeline/guard.js";
import { idempotency } from "./pipeline/idempotency.js";
import { observe } from "./pipeline/observe.js";
import { requestId } from "./pipeline/request-id.js";
import { respond } from "./pipeline/respond.js";
import { route } from "./pipeline/route.js";
import { resendSafe } from "./resilience/classify.js";

/** Methods that read only (RFC 9110 §9.2.1): no payment can have happened through them. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

export function buildApp(deps: AppDeps): Hono<ProxyEnv> {
  const app = new Hono<ProxyEnv>();
  app.use(observe(deps)); //   time it; metrics and the access log once the response is done
  app.use(requestId()); //     X-Request-Id: propagate or generate
  app.use(guard(deps)); //     not an open proxy; refuse new work while draining
  app.use(route(deps)); //     pin the config generation; pick the route's policies
  app.use(body()); //      buffer the body up to limits.maxBodySize
  app.use(respond()); //       after the stages below: write their Reply (stream, stored answer or replay)
  app.use(idempotency(deps)); // claim the key, or replay / wait / refuse; store the answer
  app.all("*", forward()); // call the gateway

  // The one place a failure becomes an answer.
  app.onError((err, c) => {
    const problem = toProxyError(err);
    c.set("problem", problem);
    if (problem.code === "internal_error") deps.logger.error({ err, reqId: c.get("requestId") }, "unhandled error");
    else if (!isProxyError(err)) deps.logger.warn({ reqId: c.get("requestId"), code: problem.code, cause: describeError(err) }, "upstream call failed");
    const profile = (c.get("generation") ?? deps.live.current).profile;
    const answer = { requestId: c.get("requestId") ?? randomUUID(), resendSafe: clientMayResend(c), mayHaveHappened: mayHaveHappened(c), profile };
    const { status, headers, body } = problemResponse(problem, answer);
    return c.body(body, status as never, headers);
  });
  return app;
}

/**
 * The client may send this request again as it is: a re-send cannot charge twice (the
 * safety rule), and it will not be refused — a keyed request the gateway cannot dedupe that
 * may have reached it leaves its key indeterminate, so a repeat gets 502 whatever its method.
 */
function clientMayResend(c: Context<ProxyEnv>): boolean {
  const request = { method: c.req.method, gatewayDedupes: c.get("upstreamKey") !== undefined, maybeSent: c.get("maybeSent") };
  const keptIndeterminate = c.get("record") !== undefined && request.maybeSent && !request.gatewayDedupes;
  return resendSafe(request) && !keptIndeterminate;
}

/**
 * The payment this request asks for may have happened: an attempt may have reached the
 * gateway (whatever broke off after it — reset, timeout, the total deadline, an internal
 * error) and the method can change something there.
 */
function mayHaveHappened(c: Context<ProxyEnv>): boolean {
  return c.get("maybeSent") === true && !SAFE_METHODS.has(c.req.method);
}
