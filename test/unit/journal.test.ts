import { spawn } from "node:child_process";
import { once } from "node:events";
import { copyFile, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal, type JournalEntry } from "../../src/store/journal.js";
import type { CompletedRecord, IndeterminateRecord } from "../../src/store/types.js";
import { APPENDED, LOADED, SKIPPED } from "../fixtures/journal-v1/entries.js";

let dir: string;
const opened: Journal[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "payguard-journal-"));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((j) => j.close()));
  await rm(dir, { recursive: true, force: true });
});

async function openJournal(fsync = false): Promise<Journal> {
  const journal = await Journal.open({ dir, fsync });
  opened.push(journal);
  return journal;
}

/** Closes and reopens: everything asserted afterwards came from the file. */
async function reopen(journal: Journal): Promise<Journal> {
  await journal.close();
  return openJournal();
}

/** The journal table as another connection reads it now: each row's key and the bytes of its entry, oldest first. */
function rows(): { key: string; bytes: number }[] {
  const db = new Database(join(dir, "journal.db"), { fileMustExist: true });
  try {
    return db.prepare("SELECT key, length(CAST(entry AS BLOB)) AS bytes FROM entries ORDER BY seq").all() as { key: string; bytes: number }[];
  } finally {
    db.close();
  }
}

const FIXTURE = fileURLToPath(new URL("../fixtures/journal-v1/outcomes.journal", import.meta.url));
const legacyPath = () => join(dir, "outcomes.journal");

function completed(key: string, body: Buffer = Buffer.from(`{"id":"${key}"}`), writtenAt = Date.now()): JournalEntry {
  const record: CompletedRecord = {
    state: "completed",
    fingerprint: `fp-${key}`,
    createdAt: writtenAt - 50,
    completedAt: writtenAt - 1,
    response: {
      status: 201,
      headers: { "content-type": "application/json", "set-cookie": ["a=1; Path=/", "b=2; HttpOnly"], "x-request-id": key },
      body,
    },
  };
  return { key, record, ttlMs: 86_400_000, writtenAt };
}

function indeterminate(key: string): JournalEntry {
  const now = Date.now();
  const record: IndeterminateRecord = {
    state: "indeterminate",
    fingerprint: `fp-${key}`,
    createdAt: now - 50,
    completedAt: now,
    reason: "upstream reset after send",
  };
  return { key, record, ttlMs: 3_600_000, writtenAt: now };
}

describe("Journal", () => {
  it("round-trips a completed record byte for byte, and an indeterminate record, through a reopen", async () => {
    const journal = await openJournal(true);
    // every byte value, including invalid UTF-8, must come back unchanged
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const done = completed("k-done", body);
    const unknown = indeterminate("k-unknown");
    await journal.append(done);
    await journal.append(unknown);
    expect(journal.get("k-done")).toEqual(done);

    const again = await reopen(journal);
    expect(again.torn).toEqual([]);
    expect(again.size()).toBe(2);
    const loaded = again.get("k-done");
    expect(loaded).toEqual(done);
    expect(loaded?.record.state === "completed" && Buffer.isBuffer(loaded.record.response.body)).toBe(true);
    if (loaded?.record.state === "completed") expect(loaded.record.response.body.equals(body)).toBe(true);
    expect(again.get("k-unknown")).toEqual(unknown);
  });

  it("lets a later append for the same key win, and count as the newer one", async () => {
    const journal = await openJournal();
    await journal.append(completed("k"));
    await journal.append(completed("other"));
    const newer = indeterminate("k");
    await journal.append(newer);
    const again = await reopen(journal);
    expect(again.size()).toBe(2);
    expect(again.get("k")).toEqual(newer);
    expect(again.entries().map((e) => e.key)).toEqual(["other", "k"]);
    expect(rows().map((r) => r.key)).toEqual(["other", "k"]);
  });

  it("keeps all of 200 concurrent appends, one row each", async () => {
    const journal = await openJournal(true);
    const entries = Array.from({ length: 200 }, (_, i) => completed(`k-${i}`, Buffer.alloc(100 + ((i * 997) % 20_000), i % 256)));
    await Promise.all(entries.map((e) => journal.append(e)));
    expect(journal.size()).toBe(200);
    expect(rows().map((r) => r.key)).toEqual(entries.map((e) => e.key));

    const again = await reopen(journal);
    expect(again.torn).toEqual([]);
    expect(again.size()).toBe(200);
    for (const e of entries) {
      const loaded = again.get(e.key);
      // Buffer.equals: a deep toEqual over 2 MB of bodies takes seconds
      expect(loaded?.record.state === "completed" && e.record.state === "completed" && loaded.record.response.body.equals(e.record.response.body)).toBe(true);
    }
  });

  it("an append has committed when it resolves: another connection reads it at once, the journal still open", async () => {
    const journal = await openJournal(true);
    await journal.append(completed("k1"));
    expect(rows().map((r) => r.key)).toEqual(["k1"]);
    await Promise.all([journal.append(completed("k2")), journal.append(indeterminate("k3"))]);
    expect(rows().map((r) => r.key)).toEqual(["k1", "k2", "k3"]);
  });

  it("commits are synced to the disk with fsync (synchronous FULL), and only survive a crash without (NORMAL); WAL either way", async () => {
    const synced = await openJournal(true);
    const pragma = (j: Journal, name: string) => (j as unknown as { db: Database.Database }).db.pragma(name, { simple: true });
    expect([pragma(synced, "journal_mode"), pragma(synced, "synchronous")]).toEqual(["wal", 2]);
    await synced.close();
    const unsynced = await openJournal(false);
    expect([pragma(unsynced, "journal_mode"), pragma(unsynced, "synchronous")]).toEqual(["wal", 1]);
  });

  it("replays oldest first, removes successes, keeps failures, and deletes the successes' rows", async () => {
    const journal = await openJournal(true);
    const entries = ["k1", "k2", "k3", "k4"].map((k) => completed(k));
    for (const e of entries) await journal.append(e);

    const calls: string[] = [];
    const result = await journal.replay(async (entry) => {
      calls.push(entry.key);
      if (entry.key === "k2" || entry.key === "k4") throw new Error("store still down");
    });
    expect(calls).toEqual(["k1", "k2", "k3", "k4"]);
    expect(result).toEqual({ replayed: 2, failed: 2 });
    expect(journal.size()).toBe(2);
    expect(journal.get("k1")).toBeUndefined();
    expect(journal.get("k2")).toEqual(entries[1]);
    expect(rows().map((r) => r.key)).toEqual(["k2", "k4"]);

    // still appendable after the replay
    const k5 = indeterminate("k5");
    await journal.append(k5);
    const again = await reopen(journal);
    expect(again.torn).toEqual([]);
    expect(again.size()).toBe(3);
    expect(again.get("k1")).toBeUndefined();
    expect(again.get("k3")).toBeUndefined();
    expect(again.get("k2")).toEqual(entries[1]);
    expect(again.get("k4")).toEqual(entries[3]);
    expect(again.get("k5")).toEqual(k5);

    const second = await again.replay(async () => {});
    expect(second).toEqual({ replayed: 3, failed: 0 });
    expect((await reopen(again)).size()).toBe(0);
    expect(rows()).toEqual([]);
  });

  it("keeps entries appended during a replay, including a newer one for a key being replayed", async () => {
    const journal = await openJournal();
    await journal.append(completed("k1"));
    const newer = indeterminate("k1");
    const other = completed("k9");
    const result = await journal.replay(async () => {
      await journal.append(newer);
      await journal.append(other);
    });
    expect(result).toEqual({ replayed: 1, failed: 0 });
    const again = await reopen(journal);
    expect(again.size()).toBe(2);
    expect(again.get("k1")).toEqual(newer);
    expect(again.get("k9")).toEqual(other);
  });

  it("remove drops an entry for good: not replayed, not back after a reopen", async () => {
    const journal = await openJournal();
    await journal.append(completed("k1"));
    await journal.append(indeterminate("k2"));
    await journal.remove("k2");
    expect(journal.get("k2")).toBeUndefined();
    const again = await reopen(journal);
    expect(again.entries().map((e) => e.key)).toEqual(["k1"]);
    const seen: string[] = [];
    await again.replay(async (e) => {
      seen.push(e.key);
    });
    expect(seen).toEqual(["k1"]);
  });

  it("commits the appends pending at close, and rejects appends after it", async () => {
    const journal = await openJournal();
    const pending = journal.append(completed("k-pending"));
    await journal.close();
    await pending;
    await expect(journal.append(completed("k"))).rejects.toThrow(/closed/);
    await expect(journal.remove("k-pending")).rejects.toThrow(/closed/);
    expect((await openJournal()).get("k-pending")).toBeDefined();
  });

  it("drops expired entries on load, and their rows", async () => {
    const journal = await openJournal();
    const stale = { ...completed("k-stale", undefined, Date.now() - 60_000), ttlMs: 1_000 };
    const fresh = completed("k-fresh");
    await journal.append(stale);
    await journal.append(fresh);
    expect(journal.size()).toBe(2);

    const again = await reopen(journal);
    expect(again.size()).toBe(1);
    expect(again.get("k-stale")).toBeUndefined();
    expect(again.get("k-fresh")).toEqual(fresh);
    expect(again.torn).toEqual([]);
    expect(rows().map((r) => r.key)).toEqual(["k-fresh"]);
  });
});

describe("the journal survives its process being killed (SIGKILL)", () => {
  const script = fileURLToPath(new URL("../fixtures/journal-sigkill.ts", import.meta.url));

  for (const fsync of ["fsync", "no-fsync"]) {
    it(`${fsync}: every append that resolved is there after the process was killed the moment they did`, async () => {
      const child = spawn(process.execPath, ["--import", "tsx", script, dir, fsync, "50"], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      const [code, signal] = await once(child, "exit");
      expect({ code, signal, stderr }).toEqual({ code: null, signal: "SIGKILL", stderr: "" });
      const journal = await openJournal();
      expect(journal.torn).toEqual([]);
      expect(journal.size()).toBe(50);
    }, 30_000);
  }
});

describe("an old journal file (CRC32 lines) is migrated into the table at open, once", () => {
  // test/fixtures/journal-v1/outcomes.journal: written by the file Journal, a line with a wrong
  // checksum, one with a correct checksum over text that is not JSON, and a torn last line.
  it("loads its complete lines, reports the skipped ones, and renames the file to outcomes.journal.migrated, unchanged", async () => {
    await copyFile(FIXTURE, legacyPath());
    const journal = await openJournal();
    expect(journal.entries()).toEqual(LOADED);
    expect(journal.torn).toEqual(SKIPPED);
    expect(await readdir(dir)).not.toContain("outcomes.journal");
    expect((await readFile(`${legacyPath()}.migrated`)).equals(await readFile(FIXTURE))).toBe(true);
    // one row per key, oldest first; what the caps count is what the table holds
    expect(rows().map((r) => r.key)).toEqual(LOADED.map((e) => e.key));
    expect(journal.pendingBytes()).toBe(rows().reduce((sum, r) => sum + r.bytes, 0));
    // byte for byte
    const done = journal.get("k-done");
    const written = APPENDED[0];
    expect(done?.record.state === "completed" && written?.record.state === "completed" && done.record.response.body.equals(written.record.response.body)).toBe(
      true,
    );
  });

  it("does not migrate again: an entry replayed or removed since stays gone after a reopen", async () => {
    await copyFile(FIXTURE, legacyPath());
    const journal = await openJournal();
    await journal.remove("k-unknown");
    await journal.replay(async (entry) => {
      if (entry.key !== "k-ledger") throw new Error("store still down");
    });
    expect(journal.entries().map((e) => e.key)).toEqual(["k-done", "k-replaced"]);

    const again = await reopen(journal);
    expect(again.torn).toEqual([]);
    expect(again.entries().map((e) => e.key)).toEqual(["k-done", "k-replaced"]);
    expect((await readFile(`${legacyPath()}.migrated`)).equals(await readFile(FIXTURE))).toBe(true);
  });

  it("a crash between the commit and the rename migrates it again at the next start, changing nothing", async () => {
    await copyFile(FIXTURE, legacyPath());
    const first = await openJournal();
    const bytes = first.pendingBytes();
    await first.close();
    // the rename never happened: the file is back beside the table that holds its entries
    await copyFile(FIXTURE, legacyPath());

    const again = await openJournal();
    expect(again.entries()).toEqual(LOADED);
    expect(again.pendingBytes()).toBe(bytes);
    expect(rows().map((r) => r.key)).toEqual(LOADED.map((e) => e.key));
    expect(await readdir(dir)).not.toContain("outcomes.journal");
  });

  it("appends after the migration are newer than the migrated entries; a file of another name (fileName) is migrated", async () => {
    await copyFile(FIXTURE, join(dir, "answers.log"));
    const journal = await Journal.open({ dir, fsync: false, fileName: "answers.log" });
    opened.push(journal);
    await journal.append(completed("k-new"));
    await journal.append(completed("k-done"));
    expect(journal.entries().map((e) => e.key)).toEqual(["k-unknown", "k-replaced", "k-ledger", "k-new", "k-done"]);
    expect((await readdir(dir)).sort()).toContain("answers.log.migrated");
  });
});

describe("the journal's size: entries and bytes pending (store.journal caps)", () => {
  it("counts the bytes of what is pending, across appends, replacements, replays, removals and a reopen", async () => {
    const journal = await openJournal();
    const tableBytes = () => rows().reduce((sum, r) => sum + r.bytes, 0);
    expect(journal.pendingBytes()).toBe(0);
    await journal.append(completed("a", Buffer.alloc(1000, 1)));
    await journal.append(completed("b", Buffer.alloc(2000, 2)));
    const both = journal.pendingBytes();
    expect(both).toBeGreaterThan(4000); // base64 bodies, and the JSON around them
    expect(both).toBe(tableBytes());
    await journal.append(completed("a", Buffer.alloc(10, 1))); // a newer answer for a replaces it
    expect(journal.pendingBytes()).toBeLessThan(both - 1000);
    await journal.remove("b");
    const onlyA = journal.pendingBytes();
    expect(onlyA).toBe(tableBytes());
    const reopened = await reopen(journal);
    expect(reopened.pendingBytes()).toBe(onlyA);
    expect(reopened.size()).toBe(1);
    await reopened.replay(async () => {});
    expect(reopened.pendingBytes()).toBe(0);
    expect(reopened.size()).toBe(0);
  });
});
