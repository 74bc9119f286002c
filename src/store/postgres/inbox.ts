/**
 * The webhook inbox in PostgreSQL (`<schema>.webhook_events`, migration 5): an event is
 * inserted on the writable node and committed before `accept` resolves — the webhook's 2xx
 * waits for it; with the database down the insert fails and the gateway retries later. A
 * lease takes due events with SKIP LOCKED, so replicas leasing at once never share one; so
 * does matching events that came before their payment's ledger row (matchLate).
 */
import type pg from "pg";
import { LEDGER_COLUMNS, LEDGER_PG_TYPES, ledgerValues } from "../sql/ledger.js";
import {
  afterCursor,
  EVENT_COLUMNS,
  type EventRow,
  eventPage,
  eventValues,
  type NamedPayment,
  nextCursor,
  REDELIVER_SET,
  SETTLE_SET,
  settledRow,
  settlesJson,
  settleValues,
  storedEventOf,
  type UnmatchedRow,
  unmatchedOf,
} from "../sql/webhook-events.js";
import type { EventSettlement, InboundEvent, WebhookInbox } from "../types.js";

type Query = <R extends pg.QueryResultRow>(text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;
type Transaction = <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;

/** `?` placeholders as $1, $2, … (the settle SET clause is shared with SQLite). */
function numbered(sql: string, from = 1): string {
  let n = from;
  return sql.replace(/\?/g, () => `$${n++}`);
}

export function postgresInbox(query: Query, transaction: Transaction, schema: string): WebhookInbox {
  const table = `${schema}.webhook_events`;
  const casts = ["text", "text", "text", "bigint", "bytea", "text", "bigint"];
  const sql = {
    insert: `INSERT INTO ${table} (${EVENT_COLUMNS.join(", ")}) VALUES (${casts.map((c, i) => `$${i + 1}::${c}`).join(", ")})
      ON CONFLICT (gateway, event_id) DO NOTHING RETURNING 1 AS stored`,
    select: `SELECT * FROM ${table} WHERE gateway = $1 AND event_id = $2`,
    lease: `UPDATE ${table} e SET lease_owner = $1, lease_until = $3::bigint
      FROM (SELECT gateway, event_id FROM ${table}
            WHERE endpoint = $5 AND state = 'pending' AND next_attempt_at <= $2::bigint AND (lease_until IS NULL OR lease_until <= $2::bigint)
            ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) due
      WHERE e.gateway = due.gateway AND e.event_id = due.event_id
      RETURNING e.*`,
    settle: `UPDATE ${table} SET ${numbered(SETTLE_SET.replace("COALESCE(?, next_attempt_at)", "COALESCE(?::bigint, next_attempt_at)").replace("delivered_at = ?", "delivered_at = ?::bigint"))}
      WHERE gateway = $5 AND event_id = $6 AND lease_owner = $7 AND state = 'pending'`,
    page: `SELECT * FROM ${table} WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR gateway = $2) AND (gateway, event_id) > ($3, $4)
      ORDER BY gateway, event_id LIMIT $5`,
    redeliver: `UPDATE ${table} SET ${numbered(REDELIVER_SET.replace("?", "?::bigint"))} WHERE gateway = $2 AND event_id = $3 AND (lease_until IS NULL OR lease_until <= $1::bigint)`,
    redeliverRange: `UPDATE ${table} e SET ${numbered(REDELIVER_SET.replace("?", "?::bigint"))}
      FROM (SELECT gateway, event_id FROM ${table} WHERE state = $2 AND ($3::text IS NULL OR gateway = $3) AND received_at >= $4::bigint AND received_at < $5::bigint
            ORDER BY received_at LIMIT $6 FOR UPDATE) r
      WHERE e.gateway = r.gateway AND e.event_id = r.event_id`,
    named: `SELECT record, route, method, path FROM ${schema}.ledger WHERE id IN (
      SELECT MAX(id) FROM ${schema}.ledger WHERE gateway = $1 AND state <> 'settled-by-event'
        AND (link = ANY($2::text[]) OR gateway_request_id = ANY($3::text[]))
      GROUP BY record)`,
    log: `INSERT INTO ${schema}.ledger (${LEDGER_COLUMNS.join(", ")}) VALUES (${LEDGER_PG_TYPES.map((c, i) => `$${i + 1}::${c}`).join(", ")})`,
    unmatched: `UPDATE ${table} SET settles = $1, match_until = $2::bigint WHERE gateway = $3 AND event_id = $4`,
    // Replicas matching at once never take the same event (SKIP LOCKED).
    late: `SELECT gateway, event_id, received_at, match_until, settles FROM ${table}
      WHERE match_until IS NOT NULL AND match_until >= $1::bigint AND (match_until, gateway, event_id) > ($2::bigint, $3, $4)
      ORDER BY match_until, gateway, event_id LIMIT $5 FOR UPDATE SKIP LOCKED`,
    matched: `UPDATE ${table} SET match_until = NULL WHERE gateway = $1 AND event_id = $2`,
    expired: `UPDATE ${table} SET match_until = NULL WHERE match_until IS NOT NULL AND match_until < $1::bigint`,
    applied: `SELECT 1 FROM ${schema}.ledger WHERE event_id = $1 AND record = $2 LIMIT 1`,
  };
  /** Inside a transaction: a settled-by-event row for each payment an unmatched event now names, once; how many. */
  async function matchOne(client: pg.PoolClient, row: UnmatchedRow, now: number): Promise<number> {
    const { event, settlement } = unmatchedOf(row);
    const { rows } = await client.query<NamedPayment>(sql.named, [event.gateway, settlement.links, settlement.requestIds]);
    let appended = 0;
    for (const payment of rows) {
      if ((await client.query(sql.applied, [event.eventId, payment.record])).rowCount) continue;
      await client.query(sql.log, ledgerValues(settledRow(event, payment, settlement, now)));
      appended++;
    }
    if (rows.length > 0) await client.query(sql.matched, [event.gateway, event.eventId]);
    return appended;
  }
  return {
    async accept(event: InboundEvent, settlement?: EventSettlement) {
      if (!settlement) {
        const { rowCount } = await query(sql.insert, eventValues(event));
        return rowCount === 1 ? "stored" : "duplicate";
      }
      // The event and the rows it appends commit together.
      return transaction(async (client) => {
        const { rowCount } = await client.query(sql.insert, eventValues(event));
        if (rowCount !== 1) return "duplicate" as const;
        const { rows } = await client.query<NamedPayment>(sql.named, [event.gateway, settlement.links, settlement.requestIds]);
        for (const payment of rows) await client.query(sql.log, ledgerValues(settledRow(event, payment, settlement)));
        if (rows.length === 0 && settlement.matchUntil !== undefined)
          await client.query(sql.unmatched, [settlesJson(settlement), settlement.matchUntil, event.gateway, event.eventId]);
        return "stored" as const;
      });
    },
    async matchLate(now, limit, after = [0, "", ""]) {
      await query(sql.expired, [now]);
      return transaction(async (client) => {
        const { rows } = await client.query<UnmatchedRow>(sql.late, [now, ...after, limit]);
        let appended = 0;
        for (const row of rows) appended += await matchOne(client, row, now);
        const next = nextCursor(rows, limit);
        return next ? { appended, next } : { appended };
      });
    },
    async event(gateway, eventId) {
      const { rows } = await query<EventRow>(sql.select, [gateway, eventId]);
      return rows[0] && storedEventOf(rows[0]);
    },
    async lease(endpoint, owner, now, leaseMs, limit) {
      const { rows } = await query<EventRow>(sql.lease, [owner, now, now + leaseMs, limit, endpoint]);
      return rows.map(storedEventOf);
    },
    async settle(event, owner, outcome) {
      const { rowCount } = await query(sql.settle, [...settleValues(outcome), event.gateway, event.eventId, owner]);
      return rowCount === 1;
    },
    async list({ state, gateway, limit, cursor }) {
      const [g, e] = afterCursor(cursor);
      const { rows } = await query<EventRow>(sql.page, [state ?? null, gateway ?? null, g, e, limit + 1]);
      return eventPage(rows, limit);
    },
    async redeliver(gateway, eventId, now) {
      const { rowCount } = await query(sql.redeliver, [now, gateway, eventId]);
      return rowCount === 1;
    },
    async redeliverRange({ state, gateway, receivedFrom, receivedTo, limit }, now) {
      const { rowCount } = await query(sql.redeliverRange, [now, state, gateway ?? null, receivedFrom, receivedTo, limit]);
      return rowCount ?? 0;
    },
  };
}
