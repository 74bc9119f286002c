/**
 * The answers a shared store could not take, kept in the journal until they are written back:
 * sealed like any stored answer when encryption is on, bounded by store.journal's caps, and
 * written back one at a time, never over a completed answer nor a live claim elsewhere.
 */
import type { StoreConfig } from "../../config/schema.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics/registry.js";
import type { Cipher } from "../crypto.js";
import { Journal, type JournalEntry } from "../journal.js";
import { sealRecord, unsealRecord } from "../sealing.js";
import { type FinalRecord, type IdempotencyRecord, type LedgerEntry, type RecordEntry, type RemoteStore, StoreError } from "../types.js";

export class Backlog {
  private writing = false;

  private constructor(
    private readonly journal: Journal,
    private readonly limits: StoreConfig["journal"],
    private readonly cipher: Cipher | undefined,
    private readonly deps: { metrics: Metrics; logger: Logger },
  ) {}

  static async open(limits: StoreConfig["journal"], cipher: Cipher | undefined, deps: { metrics: Metrics; logger: Logger }): Promise<Backlog> {
    const journal = await Journal.open({ dir: limits.dir, fsync: limits.fsync });
    if (journal.torn.length > 0) deps.logger.error({ torn: journal.torn }, "journal: skipped torn or corrupt lines (complete records were kept)");
    const backlog = new Backlog(journal, limits, cipher, deps);
    deps.metrics.observeJournal(() => ({ entries: journal.size(), bytes: journal.pendingBytes(), full: backlog.full() }));
    return backlog;
  }

  /**
   * At the cap, new keys are refused (fail closed, nothing sent), while an answer already
   * obtained is always appended — so it exceeds the cap by at most the keys in flight when it
   * was reached.
   */
  full(): boolean {
    return this.journal.size() >= this.limits.maxEntries || this.journal.pendingBytes() >= this.limits.maxBytes;
  }

  fullError(): StoreError {
    return new StoreError(
      "store_full",
      `the journal holds ${this.journal.size()} answers (${this.journal.pendingBytes()} bytes) not yet written back: at store.journal's cap`,
    );
  }

  size(): number {
    return this.journal.size();
  }

  /** Durable (fsync'd) before it resolves; the journal is storage at rest too, so it is sealed. */
  append(key: string, record: FinalRecord, ttlMs: number, ledger: LedgerEntry | undefined): Promise<void> {
    return this.journal.append({ key, record: sealRecord(key, record, this.cipher), ttlMs, writtenAt: Date.now(), ...(ledger ? { ledger } : {}) });
  }

  /** The journaled answer for `key`, opened. */
  get(key: string): JournalEntry | undefined {
    const entry = this.journal.get(key);
    return entry && { ...entry, record: unsealRecord(key, entry.record, this.cipher) };
  }

  /** The journaled record for `key` as the admin API shows it. */
  find(key: string): RecordEntry | undefined {
    const entry = this.journal.get(key);
    return entry && this.entryOf(entry);
  }

  has(key: string): boolean {
    return this.journal.get(key) !== undefined;
  }

  /** Journaled records in `state`, still sealed: open the ones shown with `entryOf`. */
  entries(state: IdempotencyRecord["state"]): JournalEntry[] {
    return this.journal.entries().filter((e) => e.record.state === state);
  }

  /** A journal entry as the admin API shows it, opened. */
  entryOf(entry: JournalEntry): RecordEntry {
    return { key: entry.key, record: unsealRecord(entry.key, entry.record, this.cipher), expiresAt: entry.writtenAt + entry.ttlMs, source: "journal" };
  }

  remove(key: string): Promise<void> {
    return this.journal.remove(key);
  }

  /**
   * Writes every journaled answer to `remote`; an entry `remote` cannot take yet stays. A key
   * this process still holds the claim on (`owned`: key → owner token) is completed by that
   * token, fenced as any completion, without waiting for its lease to run out.
   */
  async writeBack(remote: RemoteStore, owned: Map<string, string> = new Map()): Promise<void> {
    if (this.writing || this.journal.size() === 0) return;
    this.writing = true;
    const { metrics, logger } = this.deps;
    try {
      let deferred = 0;
      const result = await this.journal.replay(async (entry) => {
        const record = unsealRecord(entry.key, entry.record, this.cipher);
        const outcome = await put(remote, owned, entry.key, record, Math.max(1, entry.writtenAt + entry.ttlMs - Date.now()), entry.ledger);
        if (outcome === "busy") {
          // Another replica holds a live claim on the key: keep the entry, try again later.
          deferred++;
          throw new Error("key in flight elsewhere");
        }
        metrics.journalReplays.inc({ result: outcome });
      });
      if (deferred > 0) metrics.journalReplays.inc({ result: "deferred" }, deferred);
      if (result.failed > deferred) metrics.journalReplays.inc({ result: "failed" }, result.failed - deferred);
      if (result.replayed > 0) logger.info({ replayed: result.replayed, pending: this.journal.size() }, "journal: outcomes written back to the store");
    } finally {
      this.writing = false;
    }
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}

/** A journaled answer into the store: by its owner's token while this process holds the claim, else over whatever is not final. */
async function put(
  remote: RemoteStore,
  owned: Map<string, string>,
  key: string,
  record: FinalRecord,
  ttlMs: number,
  ledger: LedgerEntry | undefined,
): Promise<"written" | "superseded" | "busy"> {
  const token = owned.get(key);
  if (token !== undefined) {
    const mine = await remote.complete(key, token, record, ttlMs, ledger);
    owned.delete(key);
    if (mine) return "written";
  }
  return remote.putFinal(key, record, ttlMs, ledger);
}
