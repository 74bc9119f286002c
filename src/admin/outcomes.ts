/**
 * /admin/outcomes: the outcome ledger, one row per settlement, oldest first.
 *
 *   GET /admin/outcomes?since=2026-12-01T00:00:00Z[&state=completed][&gateway=stripe][&limit=100][&cursor=…]
 *
 * `since` is an ISO 8601 time or epoch milliseconds; `state` one of completed, indeterminate,
 * released, completed-in-background, resolved-by-operator; `gateway` a configured gateway's
 * name (rows written before gateways had names carry none). 501 ledger_not_kept when the store
 * keeps no ledger (memory, redis). The same rows are plain SQL: docs/operations.md, "The outcome ledger".
 */
import { Hono } from "hono";
import { ProxyError } from "../errors.js";
import type { AppDeps } from "../pipeline/context.js";
import { isInvalidCursor, type LedgerState } from "../store/types.js";
import type { AdminEnv } from "./audit.js";
import { parseLimit, parseTime } from "./params.js";

const STATES: readonly LedgerState[] = ["completed", "indeterminate", "released", "completed-in-background", "resolved-by-operator", "settled-by-event"];

export function outcomeRoutes(deps: Pick<AppDeps, "store">): Hono<AdminEnv> {
  const outcomes = new Hono<AdminEnv>();
  outcomes.get("/", async (c) => {
    const read = deps.store.outcomes?.bind(deps.store);
    if (!read) throw new ProxyError("ledger_not_kept");
    const since = parseTime("since", c.req.query("since"));
    const state = c.req.query("state");
    if (state !== undefined && !STATES.includes(state as LedgerState))
      throw new ProxyError("admin_invalid_request", `state must be one of ${STATES.join(", ")}`);
    const limit = parseLimit(c.req.query("limit"));
    try {
      const gateway = c.req.query("gateway");
      const filters = { ...(state ? { state: state as LedgerState } : {}), ...(gateway ? { gateway } : {}) };
      const page = await read({ since, limit, cursor: c.req.query("cursor"), ...filters });
      return c.json({
        outcomes: page.outcomes.map((o) => ({ ...o, startedAt: new Date(o.startedAt).toISOString(), settledAt: new Date(o.settledAt).toISOString() })),
        ...(page.cursor ? { nextCursor: page.cursor } : {}),
      });
    } catch (err) {
      if (isInvalidCursor(err)) throw new ProxyError("admin_invalid_request", "cursor: not one this API returned");
      throw err;
    }
  });
  return outcomes;
}
