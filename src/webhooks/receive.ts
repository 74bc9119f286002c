import type { IncomingMessage } from "node:http";
import { Hono } from "hono";
import type { WebhookEndpoint } from "../config/schema/webhooks.js";
import type { Config } from "../config/schema.js";
import { schemeOf } from "../config/webhooks.js";
import { plainProblem } from "../error-map.js";
import { type ProblemCode, ProxyError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { WebhookInbox } from "../store/types.js";
import { SCHEMES, type Scheme } from "./schemes/index.js";
import type { Refusal, Settles } from "./schemes/verdict.js";

export interface WebhookDeps {
  inbox: WebhookInbox;
  /** this replica's name, on the ledger rows events append */
  replica: string;
  /** webhooks.lateMatch.window */
  lateMatchWindow: number;
  /** told when a new event was stored (the deliverer looks at once) */
  onStored?: () => void;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

type Env = { Bindings: { incoming: IncomingMessage } };

const REFUSALS: Record<Refusal, ProblemCode> = {
  signature_missing: "webhook_signature_missing",
  signature_invalid: "webhook_signature_invalid",
  signature_stale: "webhook_signature_stale",
  payload_invalid: "webhook_payload_invalid",
};

export function buildWebhookApp(config: Config, deps: WebhookDeps): Hono<Env> {
  const app = new Hono<Env>();
  for (const endpoint of config.webhooks.endpoints) {
    const scheme = SCHEMES[schemeOf(endpoint, config.gateways) ?? "stripe"];
    scheme.prepare?.(endpoint);
    app.post(endpoint.path, async (c) => {
      const answer = await receive(c.env.incoming, endpoint, scheme, config.webhooks.maxBodySize, deps);
      return c.body(answer, 200, { "content-type": answer.startsWith("{") ? "application/json" : "text/plain" });
    });
  }
  app.notFound(() => {
    throw new ProxyError("webhook_endpoint_unknown");
  });
  app.onError((err, c) => {
    // The gateway's sender, not an SDK: plain problem+json.
    const { problem, status, headers, body } = plainProblem(err);
    if (problem.code === "internal_error") deps.logger.error({ err }, "webhooks: unhandled error");
    return c.body(body, status as never, headers);
  });
  return app;
}

/** Verify, store, then the acknowledgement's body; throws the refusal. */
async function receive(incoming: IncomingMessage, endpoint: WebhookEndpoint, scheme: Scheme, maxBytes: number, deps: WebhookDeps): Promise<string> {
  const count = (result: string) => deps.metrics.webhooksReceived.inc({ gateway: endpoint.gateway, result });
  const body = await readCapped(incoming, maxBytes).catch((err: unknown) => {
    if (err instanceof ProxyError) count("too_large");
    throw err;
  });
  const receivedAt = (deps.now ?? Date.now)();
  const verdict = scheme.verify(body, incoming.headers, endpoint, receivedAt);
  if (!verdict.ok) {
    count(verdict.refusal);
    deps.logger.warn({ gateway: endpoint.gateway, path: endpoint.path, refusal: verdict.refusal }, "webhooks: notification refused");
    throw new ProxyError(REFUSALS[verdict.refusal]);
  }
  const headers = Object.fromEntries(scheme.headers.flatMap((name) => (typeof incoming.headers[name] === "string" ? [[name, incoming.headers[name]]] : [])));
  const settles = scheme.settlements(body, verdict.eventIds);
  for (const eventId of verdict.eventIds) {
    const event = { gateway: endpoint.gateway, eventId, endpoint: endpoint.path, receivedAt, body, headers };
    const settlement = settles.get(eventId);
    const result = await deps.inbox
      .accept(event, settlement && { ...settlement, replica: deps.replica, ...lateMatch(settlement, receivedAt, deps) })
      .catch((err: unknown) => {
        count("store_unavailable");
        throw err;
      });
    count(result);
    if (result === "stored") deps.onStored?.();
    deps.logger.info({ gateway: endpoint.gateway, eventId, result }, "webhooks: notification received");
  }
  return scheme.acknowledgement;
}

/**
 * Until when an event that names no payment yet is matched again (webhooks.lateMatch.window;
 * 0: never). One that names nothing payguard could find (no link, no request id) never is.
 */
function lateMatch(settles: Settles, receivedAt: number, deps: WebhookDeps): { matchUntil?: number } {
  const names = settles.links.length + settles.requestIds.length;
  return deps.lateMatchWindow > 0 && names > 0 ? { matchUntil: receivedAt + deps.lateMatchWindow } : {};
}

/** The request's bytes, or 413 webhook_too_large once more than `maxBytes` arrived. */
function readCapped(incoming: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(incoming.headers["content-length"]);
    if (declared > maxBytes) return reject(new ProxyError("webhook_too_large"));
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        incoming.removeAllListeners("data");
        incoming.resume();
        reject(new ProxyError("webhook_too_large"));
      } else chunks.push(chunk);
    });
    incoming.once("end", () => resolve(Buffer.concat(chunks)));
    incoming.once("error", reject);
  });
}
