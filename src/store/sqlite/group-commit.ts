/**
 * Group commit: the writes that arrive in one turn of the event loop are committed in one
 * BEGIN IMMEDIATE transaction, so one WAL commit carries many requests' claims and answers
 * instead of one each. Each write runs in a savepoint of its own: one that throws is rolled
 * back alone and rejects alone. A write's promise resolves only after the commit — an answer
 * is never reported stored before it is.
 */
import type Database from "better-sqlite3";

interface Queued {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private queue: Queued[] = [];
  private readonly batch: Database.Transaction<(queued: Queued[]) => { ok: boolean; value: unknown }[]>;

  constructor(db: Database.Database) {
    // Nested in the batch's transaction, better-sqlite3 runs this one as a SAVEPOINT.
    const one = db.transaction((write: () => unknown) => write());
    this.batch = db.transaction((queued: Queued[]) =>
      queued.map((q) => {
        try {
          return { ok: true, value: one(q.write) };
        } catch (err) {
          return { ok: false, value: err };
        }
      }),
    );
  }

  /** Runs `write` in the next batch; resolves with its result once the batch has committed. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  /** Commits what is queued now (also at close, so no write is left behind). */
  flush(): void {
    const queued = this.queue;
    if (queued.length === 0) return;
    this.queue = [];
    let results: { ok: boolean; value: unknown }[];
    try {
      results = this.batch.immediate(queued);
    } catch (err) {
      for (const q of queued) q.reject(err);
      return;
    }
    results.forEach((r, i) => {
      const q = queued[i] as Queued;
      if (r.ok) q.resolve(r.value);
      else q.reject(r.value);
    });
  }
}
