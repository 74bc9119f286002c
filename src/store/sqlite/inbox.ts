/**
 * The webhook inbox in the SQLite file: an event is inserted in the store's group commit, so
 * `accept` resolves only once it is on disk (WAL) — the webhook's 2xx waits for it. Leases and
 * settlements are writes of the same group commit (one writer: the file is one pod's).
 */
import type Database from "better-sqlite3";
import { LEDGER_COLUMNS, ledgerValues } from "../sql/ledger.js";
import {
  afterCursor,
  EVENT_COLUMNS,
  type EventRow,
  eventPage,
  eventValues,
  type NamedPayment,
  NOT_LEASED,
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
import type { DeliveryOutcome, EventQuery, EventRange, EventSettlement, InboundEvent, MatchCursor, StoredEvent, WebhookInbox } from "../types.js";
import type { GroupCommit } from "./group-commit.js";

export class SqliteInbox implements WebhookInbox {
  private readonly sql;

  constructor(
    db: Database.Database,
    private readonly writes: GroupCommit,
  ) {
    this.sql = {
      insert: db.prepare(
        `INSERT INTO webhook_events (${EVENT_COLUMNS.join(", ")}) VALUES (${EVENT_COLUMNS.map(() => "?").join(", ")}) ON CONFLICT (gateway, event_id) DO NOTHING`,
      ),
      select: db.prepare<[string, string], EventRow>("SELECT * FROM webhook_events WHERE gateway = ? AND event_id = ?"),
      lease: db.prepare<{ endpoint: string; owner: string; now: number; until: number; limit: number }, EventRow>(
        `UPDATE webhook_events SET lease_owner = @owner, lease_until = @until
         WHERE rowid IN (SELECT rowid FROM webhook_events
           WHERE endpoint = @endpoint AND state = 'pending' AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
           ORDER BY next_attempt_at LIMIT @limit)
         RETURNING *`,
      ),
      settle: db.prepare(`UPDATE webhook_events SET ${SETTLE_SET} WHERE gateway = ? AND event_id = ? AND lease_owner = ? AND state = 'pending'`),
      page: db.prepare<[string | null, string | null, string | null, string | null, string, string, number], EventRow>(
        `SELECT * FROM webhook_events WHERE (? IS NULL OR state = ?) AND (? IS NULL OR gateway = ?) AND (gateway, event_id) > (?, ?)
         ORDER BY gateway, event_id LIMIT ?`,
      ),
      redeliver: db.prepare(`UPDATE webhook_events SET ${REDELIVER_SET} WHERE gateway = ? AND event_id = ? AND ${NOT_LEASED}`),
      redeliverRange: db.prepare(
        `UPDATE webhook_events SET ${REDELIVER_SET} WHERE rowid IN (SELECT rowid FROM webhook_events
           WHERE state = ? AND (? IS NULL OR gateway = ?) AND received_at >= ? AND received_at < ? ORDER BY received_at LIMIT ?)`,
      ),
      named: db.prepare<[string, string, string], NamedPayment>(
        `SELECT record, route, method, path FROM ledger WHERE id IN (
           SELECT MAX(id) FROM ledger WHERE gateway = ? AND state <> 'settled-by-event'
             AND (link IN (SELECT value FROM json_each(?)) OR gateway_request_id IN (SELECT value FROM json_each(?)))
           GROUP BY record)`,
      ),
      log: db.prepare(`INSERT INTO ledger (${LEDGER_COLUMNS.join(", ")}) VALUES (${LEDGER_COLUMNS.map(() => "?").join(", ")})`),
      unmatched: db.prepare(`UPDATE webhook_events SET settles = ?, match_until = ? WHERE gateway = ? AND event_id = ?`),
      late: db.prepare<[number, number, string, string, number], UnmatchedRow>(
        `SELECT gateway, event_id, received_at, match_until, settles FROM webhook_events
         WHERE match_until IS NOT NULL AND match_until >= ? AND (match_until, gateway, event_id) > (?, ?, ?)
         ORDER BY match_until, gateway, event_id LIMIT ?`,
      ),
      matched: db.prepare("UPDATE webhook_events SET match_until = NULL WHERE gateway = ? AND event_id = ?"),
      expired: db.prepare("UPDATE webhook_events SET match_until = NULL WHERE match_until IS NOT NULL AND match_until < ?"),
      applied: db.prepare<[string, string], { one: number }>("SELECT 1 AS one FROM ledger WHERE event_id = ? AND record = ? LIMIT 1"),
    };
  }

  async accept(event: InboundEvent, settlement?: EventSettlement): Promise<"stored" | "duplicate"> {
    const inserted = await this.writes.run(() => {
      const stored = this.sql.insert.run(...eventValues(event)).changes === 1;
      if (stored && settlement) this.settlePayments(event, settlement);
      return stored;
    });
    return inserted ? "stored" : "duplicate";
  }

  /** Runs inside accept's write: a row per payment the event names; none yet, and it is matched again later. */
  private settlePayments(event: InboundEvent, settlement: EventSettlement): void {
    const named = this.sql.named.all(event.gateway, JSON.stringify(settlement.links), JSON.stringify(settlement.requestIds));
    for (const payment of named) this.sql.log.run(...ledgerValues(settledRow(event, payment, settlement)));
    if (named.length === 0 && settlement.matchUntil !== undefined)
      this.sql.unmatched.run(settlesJson(settlement), settlement.matchUntil, event.gateway, event.eventId);
  }

  matchLate(now: number, limit: number, after: MatchCursor = [0, "", ""]): Promise<{ appended: number; next?: MatchCursor }> {
    return this.writes.run(() => {
      this.sql.expired.run(now);
      let appended = 0;
      const rows = this.sql.late.all(now, ...after, limit);
      for (const row of rows) appended += this.matchOne(row, now);
      const next = nextCursor(rows, limit);
      return next ? { appended, next } : { appended };
    });
  }

  /** Inside matchLate's write: a settled-by-event row for each payment a waiting event now names, once; how many. */
  private matchOne(row: UnmatchedRow, now: number): number {
    const { event, settlement } = unmatchedOf(row);
    const named = this.sql.named.all(event.gateway, JSON.stringify(settlement.links), JSON.stringify(settlement.requestIds));
    let appended = 0;
    for (const payment of named) {
      if (this.sql.applied.get(event.eventId, payment.record)) continue;
      this.sql.log.run(...ledgerValues(settledRow(event, payment, settlement, now)));
      appended++;
    }
    if (named.length > 0) this.sql.matched.run(event.gateway, event.eventId);
    return appended;
  }

  async event(gateway: string, eventId: string) {
    const row = this.sql.select.get(gateway, eventId);
    return row && storedEventOf(row);
  }

  async lease(endpoint: string, owner: string, now: number, leaseMs: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.writes.run(() => this.sql.lease.all({ endpoint, owner, now, until: now + leaseMs, limit }));
    return rows.map(storedEventOf);
  }

  settle(event: Pick<StoredEvent, "gateway" | "eventId">, owner: string, outcome: DeliveryOutcome): Promise<boolean> {
    return this.writes.run(() => this.sql.settle.run(...settleValues(outcome), event.gateway, event.eventId, owner).changes === 1);
  }

  async list({ state, gateway, limit, cursor }: EventQuery) {
    const [g, e] = afterCursor(cursor);
    return eventPage(this.sql.page.all(state ?? null, state ?? null, gateway ?? null, gateway ?? null, g, e, limit + 1), limit);
  }

  redeliver(gateway: string, eventId: string, now: number): Promise<boolean> {
    return this.writes.run(() => this.sql.redeliver.run(now, gateway, eventId, now).changes === 1);
  }

  redeliverRange({ state, gateway, receivedFrom, receivedTo, limit }: EventRange, now: number): Promise<number> {
    return this.writes.run(() => this.sql.redeliverRange.run(now, state, gateway ?? null, gateway ?? null, receivedFrom, receivedTo, limit).changes);
  }
}
