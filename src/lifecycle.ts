/**
 * Graceful shutdown, in the order load balancers need: readiness turns false first, a short
 * delay lets them notice, then the proxy stops accepting and in-flight requests finish
 * (each gets its real upstream answer) under a hard drain timeout. The store closes last:
 * only once every key this process claimed is settled — upstream calls go on after their
 * client connection was cut — and every answer is durable, or settleTimeout has passed.
 */
import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "./config/schema.js";
import type { AppDeps } from "./pipeline/context.js";

export interface Drainable extends Pick<AppDeps, "lifecycle" | "logger" | "live" | "store" | "settlements" | "tracing"> {
  proxyServer: Server;
  adminServer: Server;
}

/** How long shutdown waits for the last spans to be exported. */
const TRACE_FLUSH_MS = 5_000;

export async function drain(target: Drainable, shutdown: Config["shutdown"]): Promise<{ drained: boolean }> {
  const { lifecycle, logger, proxyServer, adminServer, live, store, settlements } = target;
  if (lifecycle.draining) return { drained: true };
  lifecycle.ready = false;
  logger.info({ readinessDelayMs: shutdown.readinessDelay }, "shutdown: readiness off");
  await sleep(shutdown.readinessDelay);

  lifecycle.draining = true;
  logger.info({ drainTimeoutMs: shutdown.drainTimeout }, "shutdown: draining");
  const closed = new Promise<void>((resolve) => proxyServer.close(() => resolve()));
  // Keep-alive connections become idle as their last response ends: close them as they do.
  const sweep = setInterval(() => proxyServer.closeIdleConnections(), 100);
  // The drain timer is cancelled once drained: a pending timer would keep the process alive.
  const timer = new AbortController();
  const timedOut = await Promise.race([closed.then(() => false), sleep(shutdown.drainTimeout, true, { signal: timer.signal }).catch(() => false)]);
  timer.abort();
  clearInterval(sweep);
  if (timedOut) {
    logger.warn("shutdown: drain timeout reached, closing remaining connections");
    proxyServer.closeAllConnections();
    await closed;
  }
  const left = await settlements.quiesce(shutdown.settleTimeout);
  if (left.open > 0 || left.pending > 0) {
    logger.error(
      { ...left, settleTimeoutMs: shutdown.settleTimeout },
      "shutdown: closing the store with keys not settled (their leases run out; a repeat is never sent twice)",
    );
  }
  try {
    await Promise.all(live.upstreams().map((upstream) => upstream.close()));
    await store.close();
  } finally {
    // the spans of the last requests and settlements, exported within a bound, whatever the store did
    await target.tracing?.shutdown(TRACE_FLUSH_MS);
  }
  adminServer.closeAllConnections();
  await new Promise<void>((resolve) => adminServer.close(() => resolve()));
  logger.info({ drained: !timedOut }, "shutdown: done");
  return { drained: !timedOut };
}
