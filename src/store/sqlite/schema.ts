/**
 * The SQLite file's schema, created and migrated when the store opens: each migration runs
 * once, in a transaction, and `PRAGMA user_version` says how many ran. WAL journaling, so a
 * committed write survives the process being killed (SIGKILL, OOM), and readers never wait
 * for the writer.
 */
import type { Database } from "better-sqlite3";

const MIGRATIONS: readonly string[] = [
  // 1: the records. WITHOUT ROWID: the key is the primary key, and the only way in.
  `CREATE TABLE records (
     key TEXT PRIMARY KEY,
     state TEXT NOT NULL CHECK (state IN ('in-flight', 'completed', 'indeterminate')),
     token TEXT,
     fingerprint TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     completed_at INTEGER,
     lease_until INTEGER,
     expires_at INTEGER NOT NULL,
     attempts INTEGER,
     reason TEXT,
     status INTEGER,
     headers TEXT,
     body BLOB
   ) WITHOUT ROWID;
   CREATE INDEX records_by_expiry ON records (expires_at);
   CREATE INDEX records_by_state ON records (state, key);`,
];

/** Journaling and the durability of a commit: `normal` survives a crash of payguard, `full` also a power cut. */
export type Synchronous = "normal" | "full";

export function prepare(db: Database, synchronous: Synchronous): void {
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
  // Another process holding the write lock (a second payguard on the same file): wait a bit.
  db.pragma("busy_timeout = 5000");
  const applied = db.pragma("user_version", { simple: true }) as number;
  for (let version = applied; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
