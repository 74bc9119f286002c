/**
 * The admin listener, on its own port: /healthz (liveness: the process answers),
 * /readyz (readiness: started and not shutting down), /metrics (Prometheus), and — only when
 * `admin.api.enabled` — the records, outcomes and webhook APIs under /admin (admin/records.ts, outcomes.ts, webhooks.ts), behind a bearer
 * token, every call audited.
 */

import { Hono } from "hono";
import { type AdminEnv, audit } from "./admin/audit.js";
import { apiEnabled, bearerToken } from "./admin/auth.js";
import { outcomeRoutes } from "./admin/outcomes.js";
import { recordRoutes } from "./admin/records.js";
import { webhookRoutes } from "./admin/webhooks.js";
import { plainProblem } from "./error-map.js";
import type { AppDeps } from "./pipeline/context.js";

export function buildAdminApp(deps: Pick<AppDeps, "lifecycle" | "metrics" | "store" | "live" | "logger" | "replica">): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const { ready, draining } = deps.lifecycle;
    if (ready && !draining && deps.store.ready()) return c.json({ status: "ready" });
    return c.json({ status: draining ? "draining" : ready ? "store unavailable" : "not ready" }, 503);
  });
  app.get("/metrics", async (c) => {
    const body = await deps.metrics.registry.metrics();
    return c.body(body, 200, { "content-type": deps.metrics.registry.contentType });
  });

  app.use("/admin/*", apiEnabled(deps)); // off: 404, as if absent
  app.use("/admin/*", audit(deps)); //      one audit line per call, refused ones included
  app.use("/admin/*", bearerToken(deps)); // 401 without the current token
  app.route("/admin/records", recordRoutes(deps));
  app.route("/admin/outcomes", outcomeRoutes(deps));
  app.route("/admin/webhooks", webhookRoutes(deps));

  // Problems as on the proxy port: the one mapping in errors.ts.
  app.onError((err, c) => {
    // Operators' tools, not a gateway SDK: plain problem+json.
    const { problem, status, headers, body } = plainProblem(err);
    if (problem.code === "internal_error") deps.logger.error({ err }, "admin api: unhandled error");
    return c.body(body, status as never, headers);
  });
  return app;
}
