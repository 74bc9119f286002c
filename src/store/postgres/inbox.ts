/**
 * The webhook inbox in PostgreSQL (`<schema>.webhook_events`, migration 5): an event is
 * inserted on the writable node and committed before `accept` resolves — the webhook's 2xx
 * waits for it; with the database down the insert fails and the gateway retries later.
 */
import type pg from "pg";
import { EVENT_COLUMNS, type EventRow, eventValues, storedEventOf } from "../sql/webhook-events.js";
import type { InboundEvent, WebhookInbox } from "../types.js";

type Query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

export function postgresInbox(query: Query, schema: string): WebhookInbox {
  const table = `${schema}.webhook_events`;
  const casts = ["text", "text", "text", "bigint", "bytea", "text", "bigint"];
  const insert = `INSERT INTO ${table} (${EVENT_COLUMNS.join(", ")}) VALUES (${casts.map((c, i) => `$${i + 1}::${c}`).join(", ")})
    ON CONFLICT (gateway, event_id) DO NOTHING RETURNING 1 AS stored`;
  const select = `SELECT * FROM ${table} WHERE gateway = $1 AND event_id = $2`;
  return {
    async accept(event: InboundEvent) {
      const { rowCount } = await query(insert, eventValues(event));
      return rowCount === 1 ? "stored" : "duplicate";
    },
    async event(gateway, eventId) {
      const { rows } = await query<EventRow>(select, [gateway, eventId]);
      return rows[0] && storedEventOf(rows[0]);
    },
  };
}
