/**
 * The one place a failure becomes an answer: whatever a stage throws — payguard's own
 * refusals (ProxyError) and the gateway call's failures alike — is mapped (errors.ts) to a
 * problem document, or the gateway's native envelope under the route's profile, saying
 * whether the client may re-send and whether the payment may have happened.
 */
import { randomUUID } from "node:crypto";
import { toProxyError } from "../error-map.js";
import { describeError, isProxyError, type ProxyError, problemResponse } from "../errors.js";
import { resendSafe } from "../resilience/classify.js";
import type { AppDeps, StageContext } from "./context.js";
import type { ForwardVars, UpstreamKeyVars } from "./forward.js";
import type { IdempotencyVars } from "./idempotency.js";
import type { RequestIdVars } from "./request-id.js";
import type { RouteVars } from "./route.js";

/** Set here, when payguard answered (or broke off) the request itself, for the access line. */
export interface ProblemVars {
  problem: ProxyError | undefined;
}

type Vars = ProblemVars & RequestIdVars & Pick<RouteVars, "gateway"> & Pick<ForwardVars, "maybeSent"> & UpstreamKeyVars & IdempotencyVars;

/** Methods that read only (RFC 9110 §9.2.1): no payment can have happened through them. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

export function problem(deps: Pick<AppDeps, "live" | "logger">): (err: Error, c: StageContext<Vars>) => Response {
  return function problem(err, c) {
    const problem = toProxyError(err);
    c.set("problem", problem);
    if (problem.code === "internal_error") deps.logger.error({ err, reqId: c.get("requestId") }, "unhandled error");
    else if (!isProxyError(err)) deps.logger.warn({ reqId: c.get("requestId"), code: problem.code, cause: describeError(err) }, "upstream call failed");
    const profile = (c.get("gateway") ?? deps.live.current).profile;
    const answer = { requestId: c.get("requestId") ?? randomUUID(), resendSafe: clientMayResend(c), mayHaveHappened: mayHaveHappened(c), profile };
    const { status, headers, body } = problemResponse(problem, answer);
    return c.body(body, status as never, headers);
  };
}

/**
 * The client may send this request again as it is: a re-send cannot charge twice (the
 * safety rule), and it will not be refused — a keyed request the gateway cannot dedupe that
 * may have reached it leaves its key indeterminate, so a repeat gets 502 whatever its method.
 */
function clientMayResend(c: StageContext<Vars>): boolean {
  const request = { method: c.req.method, gatewayDedupes: c.get("upstreamKey") !== undefined, maybeSent: c.get("maybeSent") ?? false };
  const keptIndeterminate = c.get("record") !== undefined && request.maybeSent && !request.gatewayDedupes;
  return resendSafe(request) && !keptIndeterminate;
}

/**
 * The payment this request asks for may have happened: an attempt may have reached the
 * gateway (whatever broke off after it — reset, timeout, the total deadline, an internal
 * error) and the method can change something there.
 */
function mayHaveHappened(c: StageContext<Vars>): boolean {
  return c.get("maybeSent") === true && !SAFE_METHODS.has(c.req.method);
}
