/**
 * The local outcome journal: when the shared store cannot take an answer the gateway gave, the
 * final record is appended here, the client is answered, and the journal is later replayed into
 * the store (at least once: a crash between a successful replay and the row's deletion replays
 * that entry again, which completing a record tolerates).
 *
 * A table in a SQLite file of its own, `journal.db` in store.journal.dir (schema.ts), written
 * with the SQLite store's group commit: the appends of one event-loop turn are one transaction,
 * and an append resolves only once it has committed. The pending entries are also held in
 * memory, so reading them costs no query. An old journal file is migrated at open, once
 * (migrate.ts).
 */
import type Database from "better-sqlite3";
import { GroupCommit } from "../sqlite/group-commit.js";
import { decodeEntry, encodeEntry, isExpired, type JournalEntry } from "./entry.js";
import type { TornLine } from "./legacy.js";
import { LEGACY_FILE, migrateLegacy } from "./migrate.js";
import { openJournalDb } from "./schema.js";
import { EntriesTable, type StoredRow } from "./table.js";

export interface JournalOptions {
  /** created (recursively) when missing */
  dir: string;
  /** true: every append is synced to the disk before it resolves (survives power loss, not only a crash) */
  fsync: boolean;
  /** the old journal file migrated at open, if there is one; default "outcomes.journal" */
  fileName?: string;
}

/** A pending entry, its row's seq, and the bytes of its JSON (what the journal caps bound). */
interface Pending {
  entry: JournalEntry;
  seq: number;
  bytes: number;
}

/** A durable journal of final records waiting to be replayed into the store. */
export class Journal {
  private readonly pending = new Map<string, Pending>();
  private bytes = 0;
  private closed = false;
  private replays: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly db: Database.Database,
    private readonly table: EntriesTable,
    private readonly commits: GroupCommit,
    loaded: Pending[],
    /**
     * Problems found at open, their entries skipped: lines of a migrated journal file (torn by a
     * crash, failing their checksum, not JSON), and table rows that hold no entry (`line`: the row's seq).
     */
    readonly torn: TornLine[],
  ) {
    for (const p of loaded) this.track(p);
  }

  /** Opens (creating if needed) the journal, migrates an old journal file, and loads the pending, unexpired entries. */
  static async open(options: JournalOptions): Promise<Journal> {
    const db = openJournalDb(options.dir, options.fsync);
    try {
      const table = new EntriesTable(db);
      const migrated = await migrateLegacy(db, table, options.dir, options.fileName ?? LEGACY_FILE, Date.now());
      const { loaded, torn } = load(table, Date.now());
      return new Journal(db, table, new GroupCommit(db), loaded, [...migrated, ...torn]);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Appends one entry (replacing any for its key); resolves once it is committed (and synced, with `fsync`). Appends land in call order. */
  append(entry: JournalEntry): Promise<void> {
    const json = encodeEntry(entry);
    return this.write(() => this.table.put(entry, json)).then((seq) => this.track({ entry, seq, bytes: Buffer.byteLength(json) }));
  }

  /** The pending entry for `key`, if any and not yet expired. */
  get(key: string): JournalEntry | undefined {
    const entry = this.pending.get(key)?.entry;
    return entry === undefined || isExpired(entry, Date.now()) ? undefined : entry;
  }

  /** Every pending, unexpired entry, oldest first. */
  entries(): JournalEntry[] {
    const now = Date.now();
    return [...this.pending.values()].map((p) => p.entry).filter((entry) => !isExpired(entry, now));
  }

  /** Drops the pending entry for `key` (an operator resolved that record in the store): neither a replay nor a restart brings it back. */
  remove(key: string): Promise<void> {
    return this.write(() => this.table.deleteKey(key)).then(() => this.untrack(key));
  }

  /** Entries pending replay (the backlog). */
  size(): number {
    return this.pending.size;
  }

  /** Bytes of the entries pending replay, as the table holds them (their JSON). */
  pendingBytes(): number {
    return this.bytes;
  }

  /**
   * Hands each pending entry to `sink`, oldest first; entries it accepted are deleted. An entry
   * whose sink throws is kept for the next replay. Entries expired meanwhile are dropped without
   * calling `sink`. Concurrent replays run one after the other; appends may continue meanwhile.
   */
  replay(sink: (entry: JournalEntry) => Promise<void>): Promise<{ replayed: number; failed: number }> {
    const run = this.replays.then(() => this.replayOnce(sink));
    this.replays = run.catch(() => {});
    return run;
  }

  /** Commits pending appends, then closes the file. Further appends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.commits.flush();
    this.db.close();
  }

  private async replayOnce(sink: (entry: JournalEntry) => Promise<void>): Promise<{ replayed: number; failed: number }> {
    const done: Pending[] = [];
    let replayed = 0;
    let failed = 0;
    for (const p of [...this.pending.values()]) {
      const outcome = isExpired(p.entry, Date.now()) ? "expired" : await offer(sink, p.entry);
      if (outcome === "failed") failed++;
      else done.push(p);
      if (outcome === "replayed") replayed++;
    }
    if (done.length > 0) await this.forget(done);
    return { replayed, failed };
  }

  /** Deletes the rows of `done`; by seq, so an entry appended for the same key meanwhile stays pending. */
  private forget(done: Pending[]): Promise<void> {
    return this.write(() => {
      for (const p of done) this.table.delete(p.seq);
    }).then(() => {
      for (const p of done) if (this.pending.get(p.entry.key)?.seq === p.seq) this.untrack(p.entry.key);
    });
  }

  /** Runs `write` in the next group commit; resolves once it committed. */
  private write<T>(write: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error("journal is closed"));
    return this.commits.run(write);
  }

  /** `p` is its key's pending entry now, and the newest. */
  private track(p: Pending): void {
    this.untrack(p.entry.key);
    this.pending.set(p.entry.key, p);
    this.bytes += p.bytes;
  }

  private untrack(key: string): void {
    this.bytes -= this.pending.get(key)?.bytes ?? 0;
    this.pending.delete(key);
  }
}

/** Whether `sink` took the entry. */
async function offer(sink: (entry: JournalEntry) => Promise<void>, entry: JournalEntry): Promise<"replayed" | "failed"> {
  try {
    await sink(entry);
    return "replayed";
  } catch {
    return "failed";
  }
}

/** The table's unexpired entries, oldest first (expired ones are deleted), and the rows that hold none. */
function load(table: EntriesTable, now: number): { loaded: Pending[]; torn: TornLine[] } {
  table.deleteExpired(now);
  const loaded: Pending[] = [];
  const torn: TornLine[] = [];
  for (const row of table.all()) {
    const entry = decodeEntry(row.entry);
    if (typeof entry === "string") torn.push({ line: row.seq, reason: `journal table row: ${entry}` });
    else loaded.push(pendingOf(row, entry));
  }
  return { loaded, torn };
}

function pendingOf(row: StoredRow, entry: JournalEntry): Pending {
  return { entry, seq: row.seq, bytes: Buffer.byteLength(row.entry) };
}
