/**
 * Run as a child process by test/contract/sqlite-busy.test.ts: the SQLite store (from dist/) with a
 * fast sweep, one record that expires at once, and another process holding the file's write
 * lock past the store's busy_timeout (5 s), so a sweep fails with SQLITE_BUSY. Prints "swept"
 * and exits 0 once a later sweep has deleted the record; a sweep error that escapes ends the
 * process with an uncaught SqliteError instead.
 *
 * A child of its own: the failing sweep blocks the event loop while SQLite waits, and a test
 * runner's worker holding many better-sqlite3 objects can abort at exit on Node 24 (a known
 * better-sqlite3 12.x teardown assertion, `(env) != nullptr`), which would not be this test's.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";
import Database from "better-sqlite3";
import { openSqliteStore } from "../../dist/store/sqlite/store.js";

const path = process.argv[2];
const store = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000, sweepEveryMs: 100 });
await store.claim("gone", { token: "t", fingerprint: "fp", leaseMs: 1, ttlMs: 1 });

const module = JSON.stringify(createRequire(import.meta.url).resolve("better-sqlite3"));
const holder = spawn(
  process.execPath,
  [
    "-e",
    `const db = new (require(${module}))(${JSON.stringify(path)});
     db.exec("BEGIN IMMEDIATE");
     process.stdout.write("locked\\n");
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5_500);
     db.exec("COMMIT");
     db.close();`,
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);
const exited = once(holder, "exit");
await once(holder.stdout, "data");
const [code] = await exited;
if (code !== 0) throw new Error(`the lock holder exited with ${code}`);

const other = new Database(path);
const records = other.prepare("SELECT COUNT(*) AS n FROM records");
const until = Date.now() + 5_000;
while (records.get().n !== 0) {
  if (Date.now() > until) throw new Error("no sweep deleted the expired record within 5 s of the lock's release");
  await new Promise((resolve) => setTimeout(resolve, 50));
}
other.close();
await store.close();
process.stdout.write("swept\n");
