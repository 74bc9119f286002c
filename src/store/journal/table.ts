/**
 * The journal table's statements (schema.ts): one row per pending answer, keyed by record key.
 * Synchronous, as better-sqlite3 is: a caller that needs a write on disk before it goes on runs
 * it through the group commit (journal.ts) or in a transaction of its own (migrate.ts).
 */
import type Database from "better-sqlite3";
import { encodeEntry, expiresAt, type JournalEntry } from "./entry.js";

/** A row as stored: its `seq` and the entry's JSON. */
export interface StoredRow {
  seq: number;
  entry: string;
}

export class EntriesTable {
  private readonly sql: Record<"put" | "delete" | "deleteKey" | "deleteExpired" | "all", Database.Statement>;

  constructor(db: Database.Database) {
    this.sql = {
      // REPLACE: the row a key had goes, and the entry comes in as the newest (a new seq).
      put: db.prepare("INSERT OR REPLACE INTO entries (key, expires_at, entry) VALUES (?, ?, ?)"),
      delete: db.prepare("DELETE FROM entries WHERE seq = ?"),
      deleteKey: db.prepare("DELETE FROM entries WHERE key = ?"),
      deleteExpired: db.prepare("DELETE FROM entries WHERE expires_at < ?"),
      all: db.prepare("SELECT seq, entry FROM entries ORDER BY seq"),
    };
  }

  /** Stores `entry` (as `json`, its encodeEntry text), replacing any row for its key; its seq. */
  put(entry: JournalEntry, json: string = encodeEntry(entry)): number {
    return Number(this.sql.put.run(entry.key, expiresAt(entry), json).lastInsertRowid);
  }

  /** Deletes that one row: gone already, or replaced by a newer one (another seq), it deletes nothing. */
  delete(seq: number): void {
    this.sql.delete.run(seq);
  }

  deleteKey(key: string): void {
    this.sql.deleteKey.run(key);
  }

  deleteExpired(now: number): void {
    this.sql.deleteExpired.run(now);
  }

  /** Every row, oldest first. */
  all(): StoredRow[] {
    return this.sql.all.all() as StoredRow[];
  }
}
