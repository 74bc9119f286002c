/**
 * The proxy as a hono app, read top to bottom as the request travels: each stage runs in the
 * order it is mounted. The stages after the body hand the Reply back up the chain (forward
 * returns it, idempotency gets it from `next()` and returns the one to write) and respond
 * writes it. buildApp never listens: server.ts puts it on a socket, tests may too.
 */
import { Hono } from "hono";
import { body } from "./pipeline/body.js";
import { type AppDeps, chain, narrow } from "./pipeline/context.js";
import type { ProxyEnv } from "./pipeline/env.js";
import { forward } from "./pipeline/forward.js";
import { guard } from "./pipeline/guard.js";
import { idempotency } from "./pipeline/idempotency.js";
import { observe } from "./pipeline/observe.js";
import { problem } from "./pipeline/problem.js";
import { requestId } from "./pipeline/request-id.js";
import { respond } from "./pipeline/respond.js";
import { route } from "./pipeline/route.js";

export function buildApp(deps: AppDeps): Hono<ProxyEnv> {
  const app = new Hono<ProxyEnv>();
  app.use(observe(deps)); //   time it; metrics and the access log once the response is done
  app.use(requestId()); //     X-Request-Id: propagate or generate
  app.use(guard(deps)); //     not an open proxy; refuse new work while draining
  app.use(route(deps)); //     pin the config generation; pick the route's policies
  app.use(body()); //          buffer the body up to limits.maxBodySize
  app.all(
    "*",
    respond(
      chain(
        idempotency(deps), //  claim the key, or replay / wait / refuse; store the answer it gets back
        forward(), //          call the gateway; its answer goes back up
      ),
    ), //                      write the Reply (stream, stored answer or replay)
  );
  const answerProblem = problem(deps);
  app.onError((err, c) => answerProblem(err, narrow(c))); // the one place a failure becomes an answer
  return app;
}
