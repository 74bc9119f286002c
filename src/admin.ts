/**
 * The admin listener, on its own port: /healthz (liveness: the process answers),
 * /readyz (readiness: started and not shutting down), /metrics (Prometheus).
 */
import { Hono } from "hono";
import type { AppDeps } from "./pipeline/context.js";

export function buildAdminApp(deps: Pick<AppDeps, "lifecycle" | "metrics" | "store">): Hono {
  const app = new Hono();
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
  return app;
}
