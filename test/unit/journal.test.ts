import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Journal, type JournalEntry } from "../../src/store/journal.js";
import type { CompletedRecord, IndeterminateRecord } from "../../src/store/types.js";

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

const journalPath = () => join(dir, "outcomes.journal");

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

  it("lets a later line for the same key win", async () => {
    const journal = await openJournal();
    await journal.append(completed("k"));
    const newer = indeterminate("k");
    await journal.append(newer);
    const again = await reopen(journal);
    expect(again.size()).toBe(1);
    expect(again.get("k")).toEqual(newer);
  });

  it("keeps all of 200 concurrent appends, one intact line each", async () => {
    const journal = await openJournal(true);
    const entries = Array.from({ length: 200 }, (_, i) => completed(`k-${i}`, Buffer.alloc(100 + ((i * 997) % 20_000), i % 256)));
    await Promise.all(entries.map((e) => journal.append(e)));
    expect(journal.size()).toBe(200);

    const again = await reopen(journal);
    expect(again.torn).toEqual([]);
    expect(again.size()).toBe(200);
    for (const e of entries) {
      const loaded = again.get(e.key);
      // Buffer.equals: a deep toEqual over 2 MB of bodies takes seconds
      expect(loaded?.record.state === "completed" && e.record.state === "completed" && loaded.record.response.body.equals(e.record.response.body)).toBe(true);
    }
    const text = await readFile(journalPath(), "utf8");
    expect(text.split("\n")).toHaveLength(201);
  });

  it("skips a torn last line, reports it, and appends cleanly after it", async () => {
    const journal = await openJournal();
    const entries = [completed("k1"), indeterminate("k2"), completed("k3")];
    for (const e of entries) await journal.append(e);
    await journal.close();
    // a crash in the middle of writing a fourth line: half of it, no newline
    const full = await readFile(journalPath(), "utf8");
    const lastLine = full.slice(full.lastIndexOf("\n", full.length - 2) + 1);
    await appendFile(journalPath(), lastLine.slice(0, Math.floor(lastLine.length / 2)).replace("k3", "k4"));

    const again = await openJournal();
    expect(again.size()).toBe(3);
    for (const e of entries) expect(again.get(e.key)).toEqual(e);
    expect(again.get("k4")).toBeUndefined();
    expect(again.torn).toEqual([{ line: 4, reason: expect.stringMatching(/newline/) }]);

    // the torn bytes are gone: the next line is not glued onto them
    const k5 = completed("k5");
    await again.append(k5);
    const third = await reopen(again);
    expect(third.torn).toEqual([]);
    expect(third.size()).toBe(4);
    expect(third.get("k5")).toEqual(k5);
  });

  it("skips and reports a line with a wrong checksum or bad JSON in the middle, and loads the lines after it", async () => {
    const journal = await openJournal();
    const entries = [completed("k1"), completed("k2"), completed("k3"), completed("k4")];
    for (const e of entries) await journal.append(e);
    await journal.close();

    const lines = (await readFile(journalPath(), "utf8")).split("\n");
    // line 2: one character of the JSON changed, checksum left as it was
    lines[1] = (lines[1] ?? "").replace('"status":201', '"status":200');
    // line 3: a correct checksum over text that is not JSON
    const notJson = '{"key":"k3",';
    lines[2] = `${crc32(notJson).toString(16).padStart(8, "0")} ${notJson}`;
    await writeFile(journalPath(), lines.join("\n"));

    const again = await openJournal();
    expect(again.torn).toEqual([
      { line: 2, reason: expect.stringMatching(/checksum/) },
      { line: 3, reason: expect.stringMatching(/JSON/) },
    ]);
    expect(again.size()).toBe(2);
    expect(again.get("k1")).toEqual(entries[0]);
    expect(again.get("k2")).toBeUndefined();
    expect(again.get("k3")).toBeUndefined();
    expect(again.get("k4")).toEqual(entries[3]);
  });

  it("replays oldest first, removes successes, keeps failures, and rewrites the file to the failures", async () => {
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

    // still appendable after the rewrite swapped the file
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
    expect(await readdir(dir)).toEqual(["outcomes.journal"]);

    const second = await again.replay(async () => {});
    expect(second).toEqual({ replayed: 3, failed: 0 });
    expect((await reopen(again)).size()).toBe(0);
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

  it("rejects appends after close", async () => {
    const journal = await openJournal();
    await journal.close();
    await expect(journal.append(completed("k"))).rejects.toThrow(/closed/);
  });

  it("drops expired entries on load", async () => {
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
  });
});

describe("the journal's size: entries and bytes pending (store.journal caps)", () => {
  it("counts the bytes of what is pending, across appends, replacements, replays, removals and a reopen", async () => {
    const journal = await openJournal();
    expect(journal.pendingBytes()).toBe(0);
    await journal.append(completed("a", Buffer.alloc(1000, 1)));
    await journal.append(completed("b", Buffer.alloc(2000, 2)));
    const both = journal.pendingBytes();
    expect(both).toBeGreaterThan(4000); // base64 bodies, and the lines around them
    expect(both).toBe((await readFile(journalPath())).length);
    await journal.append(completed("a", Buffer.alloc(10, 1))); // a newer answer for a replaces it
    expect(journal.pendingBytes()).toBeLessThan(both - 1000);
    await journal.remove("b");
    const onlyA = journal.pendingBytes();
    expect(onlyA).toBe((await readFile(journalPath())).length);
    const reopened = await reopen(journal);
    expect(reopened.pendingBytes()).toBe(onlyA);
    await reopened.replay(async () => {});
    expect(reopened.pendingBytes()).toBe(0);
  });
});
