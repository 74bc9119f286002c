/**
 * Opening the SQLite file for the store: created with its directory if missing, migrated, and
 * proven to take a write before payguard listens. Proven by a committed write: SQLite opens a
 * file it may not write read-only without a word (another user's file, or its -wal and -shm left
 * by a process of another user), and a read-only connection even begins a write transaction —
 * only the write fails, SQLITE_READONLY, at the first claim. Any failure here is a StoreError
 * whose message is one line an operator can act on: main.ts prints it and exits 1.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { StoreError } from "../types.js";
import { openDatabase } from "./driver.js";
import { reasonOf } from "./health.js";
import { PROBE, prepare, type Synchronous } from "./schema.js";

/** The open, migrated, writable database at `path` (`settles`: webhook events settle its ledger); `now` is written as the probe's time. */
export function openWritable(path: string, synchronous: Synchronous, now: number, settles = false): Database.Database {
  const db = openFile(path);
  try {
    prepare(db, synchronous, settles);
    db.prepare(PROBE).run(now);
    return db;
  } catch (err) {
    db.close();
    throw new StoreError("store_unavailable", `cannot write the SQLite store at store.path ${path}: ${reasonOf(err)}`, { cause: err });
  }
}

/** Opens (creating) the file, or says plainly why it cannot. */
function openFile(path: string): Database.Database {
  try {
    mkdirSync(dirname(path), { recursive: true });
    return openDatabase(path);
  } catch (err) {
    throw new StoreError("store_unavailable", `cannot open the SQLite store at store.path ${path}: ${reasonOf(err)}`, { cause: err });
  }
}
