/**
 * /admin/webhooks: the webhook inbox for operators (docs/webhooks.md).
 *
 *   GET  /admin/webhooks[?state=pending|delivered|dead][&gateway=stripe][&limit=100][&cursor=…]
 *   GET  /admin/webhooks/{gateway}/{eventId}[?include=body]
 *   POST /admin/webhooks/{gateway}/{eventId}/redeliver     — pending and due now, whatever its state
 *   POST /admin/webhooks/redeliver?state=dead|delivered&since=…[&until=…][&gateway=…][&limit=…]
 *                                                          — a range, received in [since, until), oldest first
 *
 * Never an event a replica is delivering at that moment (its lease): 409 webhook_in_flight
 * for one, left out of a range, so the service never gets an event twice at once.
 * Bodies only with `?include=body` where admin.api.revealBodies allows it (else 403); the
 * delivered headers are signatures, shown. 404 when the store keeps no inbox (memory, redis).
 */
import { type Context, Hono } from "hono";
import { ProxyError } from "../errors.js";
import type { AppDeps } from "../pipeline/context.js";
import { isInvalidCursor, type StoredEvent, type WebhookInbox, type WebhookState } from "../store/types.js";
import { type AdminEnv, noteAudit } from "./audit.js";
import { MAX_LIMIT, parseLimit, parseTime, wantsBody } from "./params.js";

const STATES: readonly WebhookState[] = ["pending", "delivered", "dead"];

export function webhookRoutes(deps: Pick<AppDeps, "store" | "live">): Hono<AdminEnv> {
  const routes = new Hono<AdminEnv>();
  const inbox = (): WebhookInbox => {
    if (!deps.store.webhooks) throw new ProxyError("record_not_found", "this store keeps no webhook inbox (store.type sqlite or postgres does)");
    return deps.store.webhooks;
  };

  routes.get("/", async (c) => {
    const state = c.req.query("state");
    if (state !== undefined && !STATES.includes(state as WebhookState))
      throw new ProxyError("admin_invalid_request", `state must be one of ${STATES.join(", ")}`);
    const gateway = c.req.query("gateway");
    const query = {
      limit: parseLimit(c.req.query("limit")),
      cursor: c.req.query("cursor"),
      ...(state ? { state: state as WebhookState } : {}),
      ...(gateway ? { gateway } : {}),
    };
    try {
      const page = await inbox().list(query);
      return c.json({ events: page.events.map((e) => view(e, false)), ...(page.cursor ? { nextCursor: page.cursor } : {}) });
    } catch (err) {
      if (isInvalidCursor(err)) throw new ProxyError("admin_invalid_request", "cursor: not one this API returned");
      throw err;
    }
  });

  routes.get("/:gateway/:eventId", async (c) => {
    const { gateway, eventId } = eventOf(c);
    const withBody = wantsBody(c.req.query("include"), deps.live.current.config.admin.api.revealBodies);
    const event = await inbox().event(gateway, eventId);
    if (!event) throw new ProxyError("record_not_found", "no webhook event with this gateway and id");
    return c.json(view(event, withBody));
  });

  routes.post("/redeliver", async (c) => {
    const state = c.req.query("state");
    if (state !== "dead" && state !== "delivered")
      throw new ProxyError("admin_invalid_request", "state must be dead or delivered (pending events are due anyway)");
    const now = Date.now();
    const gateway = c.req.query("gateway");
    const range = {
      state,
      receivedFrom: parseTime("since", c.req.query("since")),
      receivedTo: parseTime("until", c.req.query("until"), now),
      limit: parseLimit(c.req.query("limit") ?? String(MAX_LIMIT)),
      ...(gateway ? { gateway } : {}),
    } as const;
    const redelivered = await inbox().redeliverRange(range, now);
    noteAudit(c, { record: `${gateway ?? "*"}:${state}:${range.receivedFrom}-${range.receivedTo}` });
    // As many as the limit: there may be more; the same call again takes the next ones.
    return c.json({ redelivered, more: redelivered === range.limit });
  });

  routes.post("/:gateway/:eventId/redeliver", async (c) => {
    const { gateway, eventId } = eventOf(c);
    if (!(await inbox().redeliver(gateway, eventId, Date.now()))) {
      if (await inbox().event(gateway, eventId)) throw new ProxyError("webhook_in_flight");
      throw new ProxyError("record_not_found", "no webhook event with this gateway and id");
    }
    const event = await inbox().event(gateway, eventId);
    return c.json(event ? view(event, false) : {});
  });
  return routes;
}

function eventOf(c: Context<AdminEnv>): { gateway: string; eventId: string } {
  const gateway = c.req.param("gateway") ?? "";
  const eventId = c.req.param("eventId") ?? "";
  noteAudit(c, { record: `${gateway}:${eventId}` });
  return { gateway, eventId };
}

function view(event: StoredEvent, withBody: boolean) {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  return {
    gateway: event.gateway,
    eventId: event.eventId,
    endpoint: event.endpoint,
    state: event.state,
    attempts: event.attempts,
    receivedAt: iso(event.receivedAt),
    ...(event.state === "pending" ? { nextAttemptAt: iso(event.nextAttemptAt) } : {}),
    ...(event.deliveredAt === undefined ? {} : { deliveredAt: iso(event.deliveredAt) }),
    ...(event.lastError === undefined ? {} : { lastError: event.lastError }),
    bytes: event.body.length,
    headers: event.headers,
    ...(withBody ? { body: event.body.toString("utf8") } : {}),
  };
}
