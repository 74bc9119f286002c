/**
 * The journal first: an answer waiting in this replica's journal is the truth for its key, so
 * a claim, a read and a lookup look there before the layers below; the listing shows the
 * journal, then the store; an operator resolution runs in the write-back's turn; the stats
 * count the journaled answers.
 */
import type { IdempotencyStore, RemoteStore } from "../types.js";
import type { Backlog } from "./backlog.js";
import type { Layer } from "./layer.js";
import { listShared } from "./list.js";
import type { WriteBack } from "./write-back.js";

/** The store without what the composition adds: the ledger, readiness and close. */
export type JournalFirst = Omit<IdempotencyStore, "outcomes" | "close">;

export function journalFirst(inner: Layer, backlog: Backlog, writeBack: WriteBack, remote: RemoteStore): JournalFirst {
  return {
    async claim(key, request) {
      const journaled = backlog.get(key);
      if (journaled) return { outcome: "exists", record: journaled.record };
      return inner.claim(key, request);
    },
    get(key) {
      const journaled = backlog.get(key);
      if (journaled) return Promise.resolve(journaled.record);
      return inner.get(key);
    },
    complete: (key, token, record, ttlMs, ledger) => inner.complete(key, token, record, ttlMs, ledger),
    renew: (key, token, leaseMs) => inner.renew(key, token, leaseMs),
    release: (key, token, ledger) => inner.release(key, token, ledger),
    inspect(key) {
      const journaled = backlog.find(key);
      if (journaled) return Promise.resolve(journaled);
      return inner.inspect(key);
    },
    list: (request) => listShared(backlog, remote, request),
    resolve: (key, next, ledger) => writeBack.resolve(key, next, ledger),
    waitForChange: (key, timeoutMs) => inner.waitForChange(key, timeoutMs),
    stats() {
      const stats = inner.stats();
      return { ...stats, entries: stats.entries + backlog.size() };
    },
  };
}
