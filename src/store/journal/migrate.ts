/**
 * The one-time move of an old journal file (legacy.ts) into the journal table, at open. Its
 * entries go in in one transaction, made durable, and only then is the file renamed to
 * `<name>.migrated`: a crash before the rename migrates it again at the next start, which
 * changes nothing (an entry replaces its key's row); after it, never again. The renamed file
 * stays as it was, torn lines and all.
 */
import { type FileHandle, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { parseLegacy, type TornLine } from "./legacy.js";
import type { EntriesTable } from "./table.js";

/** The old journal file's default name in store.journal.dir. */
export const LEGACY_FILE = "outcomes.journal";

/** Moves the entries of `dir/fileName`, if there is such a file, into `table`; the lines it skipped. */
export async function migrateLegacy(db: Database.Database, table: EntriesTable, dir: string, fileName: string, now: number): Promise<TornLine[]> {
  const path = join(dir, fileName);
  const content = await readIfAny(path);
  if (content === undefined) return [];
  const { entries, torn } = parseLegacy(content, now);
  db.transaction(() => {
    for (const entry of entries) table.put(entry);
  }).immediate();
  // With synchronous = NORMAL a commit is not synced; a checkpoint is (the WAL before it, the
  // file after it). Else a power cut could keep the rename below and lose the entries.
  db.pragma("wal_checkpoint(FULL)");
  await rename(path, `${path}.migrated`);
  await syncDir(dir);
  return torn;
}

async function readIfAny(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Syncs the directory, so the rename itself reaches the disk. */
async function syncDir(dir: string): Promise<void> {
  let fd: FileHandle | undefined;
  try {
    fd = await open(dir, "r");
    await fd.sync();
  } catch (err) {
    // Some platforms (Windows) cannot open or sync a directory; there the rename is all we get.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL") throw err;
  } finally {
    await fd?.close();
  }
}
