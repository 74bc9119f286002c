/**
 * Every variable a request carries, each set by the one stage that declares it: the
 * environment of the app as a whole (app.ts) and of the stages that read across all of them
 * (observe.ts, the access line).
 */
import type { BodyVars } from "./body.js";
import type { StageEnv } from "./context.js";
import type { ForwardVars, UpstreamKeyVars } from "./forward.js";
import type { IdempotencyVars } from "./idempotency.js";
import type { ObserveVars } from "./observe.js";
import type { ProblemVars } from "./problem.js";
import type { RequestIdVars } from "./request-id.js";
import type { RespondVars } from "./respond.js";
import type { RouteVars } from "./route.js";

export type RequestVars = ObserveVars & RequestIdVars & RouteVars & BodyVars & IdempotencyVars & UpstreamKeyVars & ForwardVars & RespondVars & ProblemVars;

export type ProxyEnv = StageEnv<RequestVars>;
