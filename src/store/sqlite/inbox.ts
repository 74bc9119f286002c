/**
 * The webhook inbox in the SQLite file: an event is inserted in the store's group commit, so
 * `accept` resolves only once it is on disk (WAL) — the webhook's 2xx waits for it.
 */
import type Database from "better-sqlite3";
import { EVENT_COLUMNS, type EventRow, eventValues, storedEventOf } from "../sql/webhook-events.js";
import type { InboundEvent, WebhookInbox } from "../types.js";
import type { GroupCommit } from "./group-commit.js";

export class SqliteInbox implements WebhookInbox {
  private readonly insert: Database.Statement;
  private readonly select: Database.Statement<[string, string], EventRow>;

  constructor(
    db: Database.Database,
    private readonly writes: GroupCommit,
  ) {
    this.insert = db.prepare(
      `INSERT INTO webhook_events (${EVENT_COLUMNS.join(", ")}) VALUES (${EVENT_COLUMNS.map(() => "?").join(", ")}) ON CONFLICT (gateway, event_id) DO NOTHING`,
    );
    this.select = db.prepare<[string, string], EventRow>("SELECT * FROM webhook_events WHERE gateway = ? AND event_id = ?");
  }

  async accept(event: InboundEvent): Promise<"stored" | "duplicate"> {
    const inserted = await this.writes.run(() => this.insert.run(...eventValues(event)).changes === 1);
    return inserted ? "stored" : "duplicate";
  }

  async event(gateway: string, eventId: string) {
    const row = this.select.get(gateway, eventId);
    return row && storedEventOf(row);
  }
}
