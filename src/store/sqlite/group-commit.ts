/**
 * Group commit: the writes that arrive in one turn of the event loop are committed in one
 * BEGIN IMMEDIATE transaction, so one WAL commit carries many requests' claims and answers
 * instead of one each. Each write runs in a savepoint of its own: one that throws is rolled
 * back alone and rejects alone. A write's promise resolves only after the commit — an answer
 * is never reported stored before it is.
 *
 * A statement that hits SQLITE_FULL or an I/O error may make SQLite roll back the whole
 * transaction, not just the statement (https://www.sqlite.org/lang_transaction.html, "Response
 * To Errors Within A Transaction"): then nothing of the batch is on disk. That write rejects;
 * the others not settled yet — those run before it, now undone, and those not run yet — run
 * again in a new transaction; one already rejected does not run again. Never outside one: each
 * would commit on its own, and be reported failed. So a write may run more than once: it must
 * act on the database only. A COMMIT that fails rejects every write of its batch: none is on disk.
 */
import type Database from "better-sqlite3";

interface Queued {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private queue: Queued[] = [];
  private readonly sql: Record<"begin" | "commit" | "rollback" | "savepoint" | "release" | "rollbackTo", Database.Statement>;

  /** `refused` turns a write's error into the one its promise rejects with (health.ts: SQLite unable to write). */
  constructor(
    private readonly db: Database.Database,
    private readonly refused: (err: unknown) => unknown = (err) => err,
  ) {
    this.sql = {
      begin: db.prepare("BEGIN IMMEDIATE"),
      commit: db.prepare("COMMIT"),
      rollback: db.prepare("ROLLBACK"),
      savepoint: db.prepare("SAVEPOINT payguard_write"),
      release: db.prepare("RELEASE payguard_write"),
      rollbackTo: db.prepare("ROLLBACK TO payguard_write"),
    };
  }

  /** Runs `write` in the next batch; resolves with its result once the batch has committed. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  /** Commits what is queued now (also at close, so no write is left behind). */
  flush(): void {
    let batch = this.queue;
    this.queue = [];
    // Each round settles at least one write: this ends.
    while (batch.length > 0) batch = this.commit(batch);
  }

  /** One transaction over `batch`: settles its writes, or returns those to run again in a new one. */
  private commit(batch: Queued[]): Queued[] {
    if (!this.begin(batch)) return [];
    const done: { q: Queued; value: unknown }[] = [];
    for (const [i, q] of batch.entries()) {
      const ran = this.runOne(q);
      if (ran.ok) done.push({ q, value: ran.value });
      // SQLite rolled the whole transaction back: nothing of this batch is on disk. Run again
      // the writes not settled yet; never one already rejected (it would commit, reported failed).
      else if (!ran.inTransaction) return [...done.map((d) => d.q), ...batch.slice(i + 1)];
    }
    try {
      this.sql.commit.run();
    } catch (err) {
      this.abandon();
      for (const { q } of done) q.reject(this.refused(err));
      return [];
    }
    for (const { q, value } of done) q.resolve(value);
    return [];
  }

  /** Begins the batch's transaction; when it cannot, rejects the whole batch (nothing of it ran). */
  private begin(batch: Queued[]): boolean {
    // A transaction a failed ROLLBACK left open holds no write anyone was told is stored.
    this.abandon();
    try {
      this.sql.begin.run();
      return true;
    } catch (err) {
      for (const q of batch) q.reject(this.refused(err));
      return false;
    }
  }

  /** Runs one write in a savepoint; one that throws is undone and rejected, and says whether the transaction is still there. */
  private runOne(q: Queued): { ok: true; value: unknown } | { ok: false; inTransaction: boolean } {
    try {
      this.sql.savepoint.run();
      const value = q.write();
      this.sql.release.run();
      return { ok: true, value };
    } catch (err) {
      q.reject(this.refused(err));
      return { ok: false, inTransaction: this.undoWrite() };
    }
  }

  /** Rolls the failed write's savepoint back; false when the transaction is gone (SQLite rolled it back). */
  private undoWrite(): boolean {
    if (!this.db.inTransaction) return false;
    try {
      this.sql.rollbackTo.run();
      this.sql.release.run();
      return true;
    } catch {
      // Not even the savepoint can be undone: give the whole transaction up, and start again.
      this.abandon();
      return false;
    }
  }

  /** Ends the transaction without committing, whatever state SQLite left it in. */
  private abandon(): void {
    try {
      if (this.db.inTransaction) this.sql.rollback.run();
    } catch {}
  }
}
