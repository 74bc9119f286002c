/**
 * The SQLite group commit when SQLite itself rolls the whole transaction back: a statement
 * that hits SQLITE_FULL (or an I/O error) mid-batch may end the batch's transaction, not just
 * its own savepoint. Each write's reported result must still be what is on disk. Real
 * SQLITE_FULL, no mocks: a low max_page_count on the test's own connection, and a tiny tmpfs
 * under the store. A file of its own with few databases (docs/operations.md, the Node 24 risk).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../src/store/sqlite/group-commit.js";
import { openSqliteStore } from "../../src/store/sqlite/store.js";

const freshDir = () => mkdtempSync(join(tmpdir(), "payguard-sqlite-rollback-"));
const asRoot = it.skipIf(process.getuid?.() !== 0); // skipped unless root: mounting a tmpfs needs it (CI runs as root)

/** For each key: whether its write was reported done, and whether it is on disk, where the two differ. */
function mismatches(keys: string[], results: PromiseSettledResult<unknown>[], onDisk: Set<string>) {
  return keys.map((key, i) => ({ key, reported: results[i]?.status === "fulfilled", onDisk: onDisk.has(key) })).filter((r) => r.reported !== r.onDisk);
}

/** A WAL database whose file may grow only a few pages: small rows fit, a 64 KiB one cannot (SQLITE_FULL). */
function nearlyFull() {
  const path = join(freshDir(), "t.db");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)");
  db.pragma(`max_page_count = ${(db.pragma("page_count", { simple: true }) as number) + 4}`);
  const insert = db.prepare("INSERT INTO t VALUES (?, ?)");
  return { path, db, insert, small: (key: string) => () => insert.run(key, Buffer.alloc(8)) };
}

describe("sqlite group commit after an automatic rollback", () => {
  it("a write that makes SQLite roll the batch back fails alone; every other write is reported as it is on disk", async () => {
    const { path, db, insert, small } = nearlyFull();
    let transactionSurvived: boolean | undefined;
    const big = () => {
      try {
        insert.run("big", Buffer.alloc(65_536));
      } catch (err) {
        transactionSurvived = db.inTransaction;
        throw err;
      }
    };
    const writes = new GroupCommit(db);
    const keys = ["a", "b", "big", "c", "d"];
    const results = await Promise.allSettled([small("a"), small("b"), big, small("c"), small("d")].map((write) => writes.run(write)));

    expect(transactionSurvived).toBe(false); // SQLite ended the batch's transaction, not just the write's savepoint
    const reader = new Database(path, { readonly: true });
    const onDisk = new Set(reader.prepare("SELECT k FROM t").pluck().all() as string[]);
    reader.close();
    db.close();
    expect(mismatches(keys, results, onDisk)).toEqual([]);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: "SQLITE_FULL" });
    // The others ran again in a transaction of their own: only the write that hit SQLITE_FULL failed.
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
  });

  it("a write that failed alone before the rollback is not run again: it stays failed and off the disk", async () => {
    const { db, insert, small } = nearlyFull();
    // Refused once, in its own savepoint (as a statement-level SQLITE_FULL would be); fine if run again.
    let onceRuns = 0;
    const once = () => {
      insert.run("once", Buffer.alloc(8));
      if (++onceRuns === 1) throw new Error("refused alone");
    };
    const big = () => insert.run("big", Buffer.alloc(65_536));
    const writes = new GroupCommit(db);
    const keys = ["a", "once", "big", "d"];
    const results = await Promise.allSettled([small("a"), once, big, small("d")].map((write) => writes.run(write)));

    const onDisk = new Set(db.prepare("SELECT k FROM t").pluck().all() as string[]);
    db.close();
    expect(mismatches(keys, results, onDisk)).toEqual([]);
    expect({ onceRuns, statuses: results.map((r) => r.status) }).toEqual({ onceRuns: 1, statuses: ["fulfilled", "rejected", "rejected", "fulfilled"] });
  });

  // Mounting a tmpfs needs root (CI runs as root); elsewhere the max_page_count test above covers the group commit.
  asRoot("store: a 16 MB answer that fills the disk mid-batch fails alone; claims reported claimed are on disk", async () => {
    const dir = freshDir();
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
    const path = join(dir, "payguard.db");
    const store = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000 });
    try {
      const claim = (key: string) => store.claim(key, { token: `t-${key}`, fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 });
      await claim("big");
      // Bigger than SQLite's page cache: the statement spills to the WAL, finds the disk full,
      // and SQLite rolls the whole transaction back.
      const response = { status: 200, headers: {}, body: Buffer.alloc(16 * 1024 * 1024, 7) };
      const keys = ["a", "b", "big", "c", "d"];
      const results = await Promise.allSettled([
        claim("a"),
        claim("b"),
        store.complete("big", "t-big", { state: "completed", fingerprint: "fp", createdAt: 1, completedAt: 2, response }, 60_000),
        claim("c"),
        claim("d"),
      ]);
      const reader = new Database(path);
      const rows = reader.prepare("SELECT key, state FROM records").all() as { key: string; state: string }[];
      reader.close();

      // "big" is on disk only as the claim of the first turn: its answer is not.
      const onDisk = new Set(rows.filter((r) => r.key !== "big" || r.state === "completed").map((r) => r.key));
      expect(mismatches(keys, results, onDisk)).toEqual([]);
      expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: "store_unavailable", cause: { code: "SQLITE_FULL" } });
      expect(rows.find((r) => r.key === "big")?.state).toBe("in-flight");
      expect(results.map((r) => (r.status === "fulfilled" ? r.value : "failed"))).toEqual([
        { outcome: "claimed" },
        { outcome: "claimed" },
        "failed",
        { outcome: "claimed" },
        { outcome: "claimed" },
      ]);
    } finally {
      await store.close();
      execFileSync("umount", ["-l", dir]);
    }
  });
});
