/**
 * Whether the SQLite store can take a claim now, for /readyz. Proven at open by a committed
 * write (open.ts), then every few seconds by the same small write through the group commit.
 * A write that SQLite refuses because it cannot write — the file read-only, the disk full, an
 * I/O error, another process holding the lock past busy_timeout — makes it false at once, and
 * is answered as store_unavailable (503, nothing sent) instead of an internal error; the next
 * probe that commits makes it true again.
 */
import { StoreError } from "../types.js";

/** How often the probe writes (ms): at most this long ready while a store that cannot write is idle. */
export const PROBE_MS = 1_000;

/** SQLite's primary result codes that mean the file cannot take a write now (https://www.sqlite.org/rescode.html). */
const CANNOT_WRITE = /^SQLITE_(READONLY|FULL|IOERR|CANTOPEN|BUSY|PERM|CORRUPT|NOTADB)(_|$)/;
/** Of those, the codes where the fix is the file's owner or mode. */
const NO_ACCESS = /^SQLITE_(READONLY|CANTOPEN|PERM)(_|$)/;

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

/** The error is SQLite saying it cannot write the file now. */
export function cannotWrite(err: unknown): boolean {
  return CANNOT_WRITE.test(sqliteCode(err) ?? "");
}

/** One line an operator can act on: SQLite's message, its code, and what to check for an access error. */
export function reasonOf(err: unknown): string {
  const code = sqliteCode(err);
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ");
  if (!code) return message;
  const uid = process.getuid?.();
  const access =
    NO_ACCESS.test(code) && uid !== undefined
      ? `; payguard runs as uid ${uid}: it must be able to write the file, its -wal and -shm files and their directory`
      : "";
  return `${message} (${code})${access}`;
}

export class WriteHealth {
  private writable = true;
  private probing = false;
  private timer: NodeJS.Timeout | undefined;

  /** `onChange` is told each time the store stops or starts taking writes. */
  constructor(private readonly onChange?: (writable: boolean, reason?: string) => void) {}

  ready(): boolean {
    return this.writable;
  }

  /** A write's error as the store reports it: one SQLite could not write makes the store not ready, and a store_unavailable. */
  refused(err: unknown): unknown {
    if (!cannotWrite(err)) return err;
    this.set(false, err);
    return new StoreError("store_unavailable", `the SQLite store cannot write: ${reasonOf(err)}`, { cause: err });
  }

  /** Every `everyMs`, `write` (a small write, committed); the store is ready once one commits, not while one fails. */
  probe(write: () => Promise<unknown>, everyMs: number): void {
    this.timer = setInterval(() => {
      if (this.probing) return;
      this.probing = true;
      write()
        .then(
          () => this.set(true),
          (err: unknown) => this.set(false, err),
        )
        .finally(() => {
          this.probing = false;
        });
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private set(writable: boolean, err?: unknown): void {
    if (writable === this.writable) return;
    this.writable = writable;
    this.onChange?.(writable, err === undefined ? undefined : reasonOf((err as { cause?: unknown }).cause ?? err));
  }
}
