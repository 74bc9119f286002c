/**
 * The journal's SQLite file (its own, not the SQLite store's): opened, set up and migrated.
 * Each migration runs once, in a transaction, and `PRAGMA user_version` says how many ran.
 * WAL journaling: a committed append survives the process being killed; `synchronous = FULL`
 * also syncs every commit to the disk, so it survives a power cut too.
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "../sqlite/driver.js";
import { applyMigrations } from "../sqlite/schema.js";

/** The journal file's name in store.journal.dir. */
export const DB_FILE = "journal.db";

const MIGRATIONS: readonly string[] = [
  // 1: one row per pending answer, by key; seq orders them oldest first and tells a row from
  //    the one that replaced it (never reused: AUTOINCREMENT). `entry` is the entry's JSON (entry.ts).
  `CREATE TABLE entries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     key TEXT NOT NULL UNIQUE,
     expires_at INTEGER NOT NULL,
     entry TEXT NOT NULL
   );`,
];

/** Opens (creating it and `dir`) the journal file in `dir`, migrated. */
export function openJournalDb(dir: string, fsync: boolean): Database.Database {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, DB_FILE);
  // Created owner-only, as the journal file was: SQLite gives its -wal and -shm files the same mode.
  closeSync(openSync(path, "a", 0o600));
  const db = openDatabase(path);
  try {
    setUp(db, fsync);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function setUp(db: Database.Database, fsync: boolean): void {
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${fsync ? "FULL" : "NORMAL"}`);
  // A written-back answer leaves no bytes behind in the file's free pages.
  db.pragma("secure_delete = ON");
  db.pragma("busy_timeout = 5000");
  applyMigrations(db, MIGRATIONS);
}
