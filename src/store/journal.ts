/**
 * The local outcome journal: when the shared store is down at the moment a gateway answer
 * must be recorded, the final record is appended here, the client is answered, and the
 * journal is later replayed into the store (at least once: a crash between a successful
 * replay and the rewrite replays that entry again, which completing a record tolerates).
 *
 * File format, one entry a line: `<checksum> <json>\n`, the checksum being the hex CRC32 of
 * the JSON text. Lines that fail the checksum, do not parse, or lack their newline (a write
 * torn by a crash) are skipped and reported in `torn`, never fatal.
 */
import { createHash } from "node:crypto";
import { type FileHandle, mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import * as zlib from "node:zlib";
import type { FinalRecord, LedgerEntry, StoredResponse } from "./types.js";

/** One journalled outcome: the record to store under `key`, kept for `ttlMs` from `writtenAt`. */
export interface JournalEntry {
  key: string;
  record: FinalRecord;
  ttlMs: number;
  /** epoch ms */
  writtenAt: number;
  /** the settlement's ledger row, appended when the record is written back */
  ledger?: LedgerEntry;
}

export interface JournalOptions {
  /** created (recursively) when missing */
  dir: string;
  /** true: every append reaches the disk before it resolves (survives power loss, not only a crash) */
  fsync: boolean;
  /** default "outcomes.journal" */
  fileName?: string;
}

/** A line skipped while loading; `line` is 1-based. */
export interface TornLine {
  line: number;
  reason: string;
}

const NEWLINE = 0x0a;

interface PendingAppend {
  entry: JournalEntry;
  line: Buffer;
  resolve: () => void;
  reject: (err: unknown) => void;
}

// zlib.crc32 exists from Node 20.15 / 22.2; engines (>=20.19) guarantee it, the fallback is belt and braces.
const crc32 = (zlib as { crc32?: (data: string) => number }).crc32;
function checksum(text: string): string {
  if (typeof crc32 === "function") return crc32(text).toString(16).padStart(8, "0");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** A durable append-only journal of final records waiting to be replayed into the store. */
export class Journal {
  /** Problems found while loading the file; the affected lines were skipped. */
  readonly torn: TornLine[];

  private readonly index: Map<string, JournalEntry>;
  /** bytes of each pending entry's line, and their sum: what the journal caps bound */
  private readonly lineBytes = new Map<string, number>();
  private pending = 0;
  private readonly path: string;
  private fd: FileHandle | undefined;
  /** bytes of complete lines in the file: where a failed append is cut back to */
  private bytes: number;
  /** every file operation runs in this chain, one at a time, so lines never interleave */
  private tail: Promise<void> = Promise.resolve();
  private replays: Promise<unknown> = Promise.resolve();
  /** appends waiting for the next flush */
  private batch: PendingAppend[] = [];

  private constructor(
    private readonly dir: string,
    private readonly fileName: string,
    private readonly fsync: boolean,
    fd: FileHandle,
    bytes: number,
    index: Map<string, JournalEntry>,
    torn: TornLine[],
  ) {
    this.path = join(dir, fileName);
    this.fd = fd;
    this.bytes = bytes;
    this.index = index;
    this.torn = torn;
    for (const entry of index.values()) this.account(entry.key, Buffer.byteLength(encodeLine(entry)));
  }

  /** Opens (creating if needed) the journal and loads its pending, unexpired entries. */
  static async open(options: JournalOptions): Promise<Journal> {
    const fileName = options.fileName ?? "outcomes.journal";
    await mkdir(options.dir, { recursive: true });
    const path = join(options.dir, fileName);
    let content: Buffer;
    try {
      content = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      content = Buffer.alloc(0);
    }
    const { index, torn, completeBytes } = load(content, Date.now());
    const fd = await open(path, "a", 0o600);
    try {
      if (completeBytes < content.length) {
        // A torn last line must go: the next append would otherwise be glued onto it and be lost too.
        await fd.truncate(completeBytes);
        await fd.sync();
      }
    } catch (err) {
      await fd.close();
      throw err;
    }
    return new Journal(options.dir, fileName, options.fsync, fd, completeBytes, index, torn);
  }

  /**
   * Appends one entry; resolves once it is written (and on disk, with `fsync`). Appends land
   * in call order, whole lines, never interleaved.
   */
  append(entry: JournalEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const line = Buffer.from(encodeLine(entry), "utf8");
      this.batch.push({ entry, line, resolve, reject });
      // The first append of a batch schedules its flush; later ones ride along with it.
      if (this.batch.length === 1) void this.exclusive(() => this.flush());
    });
  }

  /** The pending entry for `key`, if any and not yet expired. */
  get(key: string): JournalEntry | undefined {
    const entry = this.index.get(key);
    return entry === undefined || isExpired(entry, Date.now()) ? undefined : entry;
  }

  /** Every pending, unexpired entry, oldest first. */
  entries(): JournalEntry[] {
    const now = Date.now();
    return [...this.index.values()].filter((entry) => !isExpired(entry, now));
  }

  /**
   * Drops the pending entry for `key` (an operator resolved that record in the store) and
   * rewrites the file, so neither a replay nor a restart brings the entry back.
   */
  async remove(key: string): Promise<void> {
    await this.exclusive(async () => {
      if (this.index.delete(key)) {
        this.account(key, 0);
        await this.rewrite();
      }
    });
  }

  /** Entries pending replay (the backlog). */
  size(): number {
    return this.index.size;
  }

  /** Bytes of the entries pending replay, as the file holds them. */
  pendingBytes(): number {
    return this.pending;
  }

  /**
   * Hands each pending entry to `sink`, oldest first; entries it accepted are removed and the
   * file is rewritten to hold only what is still pending. An entry whose sink throws is kept
   * for the next replay. Entries expired meanwhile are dropped without calling `sink`.
   * Concurrent replays run one after the other; appends may continue meanwhile.
   */
  replay(sink: (entry: JournalEntry) => Promise<void>): Promise<{ replayed: number; failed: number }> {
    const run = this.replays.then(() => this.replayOnce(sink));
    this.replays = run.catch(() => {});
    return run;
  }

  /** Waits for pending appends, then closes the file. Further appends reject. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      const fd = this.fd;
      this.fd = undefined;
      await fd?.close();
    });
  }

  private async replayOnce(sink: (entry: JournalEntry) => Promise<void>): Promise<{ replayed: number; failed: number }> {
    const done = new Set<JournalEntry>();
    let replayed = 0;
    let failed = 0;
    for (const entry of [...this.index.values()]) {
      if (isExpired(entry, Date.now())) {
        done.add(entry);
        continue;
      }
      try {
        await sink(entry);
        done.add(entry);
        replayed++;
      } catch {
        failed++;
      }
    }
    if (done.size === 0) return { replayed, failed };
    await this.exclusive(async () => {
      // Identity check: a newer entry appended for the same key during the replay stays pending.
      for (const entry of done) {
        if (this.index.get(entry.key) !== entry) continue;
        this.index.delete(entry.key);
        this.account(entry.key, 0);
      }
      await this.rewrite();
    });
    return { replayed, failed };
  }

  /**
   * Replaces the file with the pending entries. Atomic: a crash leaves either the old file or
   * the new one, never a mix. The temp file is synced before the rename (else the rename may
   * reach the disk before the data, leaving an empty journal), and the directory after it
   * (else the rename itself may be lost).
   */
  private async rewrite(): Promise<void> {
    this.handle();
    const tmpPath = join(this.dir, `${this.fileName}.tmp`);
    const content = Buffer.from([...this.index.values()].map(encodeLine).join(""), "utf8");
    const tmp = await open(tmpPath, "w", 0o600);
    try {
      await tmp.writeFile(content);
      await tmp.sync();
    } finally {
      await tmp.close();
    }
    await rename(tmpPath, this.path);
    await syncDir(this.dir);
    // The old handle still points at the replaced file: switch to the new one.
    const fd = await open(this.path, "a", 0o600);
    const old = this.fd;
    this.fd = fd;
    this.bytes = content.length;
    await old?.close();
  }

  /**
   * Group commit: writes every append queued so far in one go, then syncs once. Appends that
   * arrive during the sync form the next batch, so an fsync'd journal costs one disk flush per
   * batch instead of one per append.
   */
  private async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    const data = Buffer.concat(batch.map((b) => b.line));
    try {
      const fd = this.handle();
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await fd.write(data, written, data.length - written);
        written += bytesWritten;
      }
      // Without this the lines may sit in the page cache: they survive a process crash, not a power cut.
      if (this.fsync) await fd.datasync();
    } catch (err) {
      // Cut half-written lines back off, or the next append would be glued onto them.
      await this.fd?.truncate(this.bytes).catch(() => {});
      for (const b of batch) b.reject(err);
      return;
    }
    this.bytes += data.length;
    for (const b of batch) {
      this.index.delete(b.entry.key); // re-insert: iteration order is append order, oldest first
      this.index.set(b.entry.key, b.entry);
      this.account(b.entry.key, b.line.length);
      b.resolve();
    }
  }

  /** The pending line for `key` is now `bytes` long (0: none). */
  private account(key: string, bytes: number): void {
    this.pending += bytes - (this.lineBytes.get(key) ?? 0);
    if (bytes === 0) this.lineBytes.delete(key);
    else this.lineBytes.set(key, bytes);
  }

  private handle(): FileHandle {
    if (this.fd === undefined) throw new Error("journal is closed");
    return this.fd;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.then(
      () => {},
      () => {},
    );
    return run;
  }
}

interface SerializedEntry {
  key: string;
  ttlMs: number;
  writtenAt: number;
  record: Omit<FinalRecord, "response"> & { response?: Omit<StoredResponse, "body"> & { body: string } };
  ledger?: LedgerEntry;
}

function encodeLine(entry: JournalEntry): string {
  const { record } = entry;
  const serialized: SerializedEntry = {
    key: entry.key,
    ttlMs: entry.ttlMs,
    writtenAt: entry.writtenAt,
    record: record.state === "completed" ? { ...record, response: { ...record.response, body: record.response.body.toString("base64") } } : record,
    ...(entry.ledger ? { ledger: entry.ledger } : {}),
  };
  const json = JSON.stringify(serialized);
  return `${checksum(json)} ${json}\n`;
}

function load(content: Buffer, now: number): { index: Map<string, JournalEntry>; torn: TornLine[]; completeBytes: number } {
  const index = new Map<string, JournalEntry>();
  const torn: TornLine[] = [];
  // Only bytes up to the last newline are complete lines; anything after it is a torn write.
  const completeBytes = content.lastIndexOf(NEWLINE) + 1;
  const lines = content.subarray(0, completeBytes).toString("utf8").split("\n");
  lines.pop(); // the empty string after the final newline
  lines.forEach((text, i) => {
    const line = i + 1;
    const result = decodeLine(text);
    if (typeof result === "string") {
      torn.push({ line, reason: result });
      return;
    }
    index.delete(result.key); // a later line for the same key wins, and counts as the newer one
    if (!isExpired(result, now)) index.set(result.key, result);
  });
  if (completeBytes < content.length) torn.push({ line: lines.length + 1, reason: "torn write: last line has no newline" });
  return { index, torn, completeBytes };
}

/** The entry, or why the line is unusable. */
function decodeLine(text: string): JournalEntry | string {
  const space = text.indexOf(" ");
  if (space < 0) return "no checksum";
  const json = text.slice(space + 1);
  if (checksum(json) !== text.slice(0, space)) return "checksum mismatch";
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return "invalid JSON";
  }
  return toEntry(value) ?? "not a journal entry";
}

function toEntry(value: unknown): JournalEntry | undefined {
  if (!isObject(value) || typeof value.key !== "string" || !isNumber(value.ttlMs) || !isNumber(value.writtenAt)) return undefined;
  const record = value.record;
  if (!isObject(record) || typeof record.fingerprint !== "string" || !isNumber(record.createdAt) || !isNumber(record.completedAt)) return undefined;
  // A ledger row rides along as written (it is payguard's own, checksummed with the line).
  const ledger = isObject(value.ledger) && typeof value.ledger.record === "string" ? { ledger: value.ledger as unknown as LedgerEntry } : {};
  const base = { key: value.key, ttlMs: value.ttlMs, writtenAt: value.writtenAt, ...ledger };
  // Optional: lines written before attempts were recorded have none.
  const attempts = isNumber(record.attempts) ? { attempts: record.attempts } : {};
  if (record.state === "indeterminate" && typeof record.reason === "string") {
    return {
      ...base,
      record: {
        state: "indeterminate",
        fingerprint: record.fingerprint,
        createdAt: record.createdAt,
        completedAt: record.completedAt,
        reason: record.reason,
        ...attempts,
      },
    };
  }
  const response = record.response;
  if (record.state !== "completed" || !isObject(response) || !isNumber(response.status) || !isObject(response.headers) || typeof response.body !== "string") {
    return undefined;
  }
  return {
    ...base,
    record: {
      state: "completed",
      fingerprint: record.fingerprint,
      createdAt: record.createdAt,
      completedAt: record.completedAt,
      ...attempts,
      response: { status: response.status, headers: response.headers as StoredResponse["headers"], body: Buffer.from(response.body, "base64") },
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isExpired(entry: JournalEntry, now: number): boolean {
  return entry.writtenAt + entry.ttlMs < now;
}

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
