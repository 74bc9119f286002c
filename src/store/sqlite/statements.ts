/**
 * The SQLite store's statements, prepared once at open (driver.ts: none is ever garbage).
 */
import type Database from "better-sqlite3";
import { LAST_REQUEST, type LastRequest, LEDGER_COLUMNS, type LedgerRow } from "../sql/ledger.js";
import { RECORD_COLUMNS, type RecordRow } from "../sql/rows.js";
import { PROBE } from "./schema.js";

/** Expired records (and old ledger rows) deleted per statement. */
export const SWEEP_BATCH = 1_000;
export const COUNT_SQL = "SELECT COUNT(*) AS entries, COALESCE(SUM(state = 'in-flight'), 0) AS inFlight FROM records WHERE expires_at > ?";

const SET_ALL = RECORD_COLUMNS.map((c) => `${c} = ?`).join(", ");
const INSERT = `INSERT INTO records (key, ${RECORD_COLUMNS.join(", ")}) VALUES (?${", ?".repeat(RECORD_COLUMNS.length)})
  ON CONFLICT (key) DO UPDATE SET ${RECORD_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}`;

export type Statements = ReturnType<typeof statementsOf>;

export function statementsOf(db: Database.Database) {
  return {
    select: db.prepare<[string], RecordRow>("SELECT * FROM records WHERE key = ?"),
    put: db.prepare(INSERT),
    complete: db.prepare(`UPDATE records SET ${SET_ALL} WHERE key = ? AND state = 'in-flight' AND token = ?`),
    // The expiry moves on as far as the lease does, never short of it (types.ts, renewedLease).
    renew: db.prepare<{ until: number; key: string; token: string }>(
      "UPDATE records SET expires_at = MAX(expires_at + MAX(0, @until - lease_until), @until), lease_until = @until WHERE key = @key AND state = 'in-flight' AND token = @token",
    ),
    release: db.prepare("DELETE FROM records WHERE key = ? AND state = 'in-flight' AND token = ?"),
    remove: db.prepare("DELETE FROM records WHERE key = ?"),
    page: db.prepare<[string, string, number, number], RecordRow>("SELECT * FROM records WHERE state = ? AND key > ? AND expires_at > ? ORDER BY key LIMIT ?"),
    sweep: db.prepare(`DELETE FROM records WHERE key IN (SELECT key FROM records WHERE expires_at <= ? LIMIT ${SWEEP_BATCH})`),
    count: db.prepare<[number], { entries: number; inFlight: number }>(COUNT_SQL),
    log: db.prepare(`INSERT INTO ledger (${LEDGER_COLUMNS.join(", ")}) VALUES (${LEDGER_COLUMNS.map(() => "?").join(", ")})`),
    outcomes: db.prepare<[number, string | null, string | null, string | null, string | null, number, number], LedgerRow>(
      "SELECT * FROM ledger WHERE settled_at >= ? AND (? IS NULL OR state = ?) AND (? IS NULL OR gateway = ?) AND id > ? ORDER BY id LIMIT ?",
    ),
    forget: db.prepare(`DELETE FROM ledger WHERE id IN (SELECT id FROM ledger WHERE settled_at <= ? LIMIT ${SWEEP_BATCH})`),
    lastRequest: db.prepare<[string], LastRequest>(LAST_REQUEST("ledger", "?")),
    probe: db.prepare(PROBE),
    // prepared once, as every statement here (driver.ts): a /metrics scrape prepares none
    pageCount: db.prepare("PRAGMA page_count").pluck(),
    pageSize: db.prepare("PRAGMA page_size").pluck(),
  };
}
