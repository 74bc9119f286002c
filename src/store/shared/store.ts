/**
 * A remote store (Redis, PostgreSQL) as payguard uses it: the remote store for every record,
 * the local journal for answers it could not take, and (only with `onUnavailable: local`) the
 * memory store while it is down.
 *
 * Consistency over availability:
 * - the store down at claim time → store_unavailable (503, nothing sent), unless the operator
 *   chose `local`: then keys are deduplicated by this replica only, logged and counted.
 * - the gateway has already answered and its completion did not commit (the store down, or
 *   any other failure of the write) → the answer is appended to the journal (fsync'd) before
 *   the client gets it, served from there to repeats on this replica, and written back as soon
 *   as the store takes it (and at start).
 *
 * Operator resolutions (admin API) and write-back run one at a time (write-back.ts), so a
 * later write-back can never put a journaled record back over the operator's answer.
 *
 * The cut: four layers, outermost first — the journal first (journal-first.ts), claims held
 * here (holds.ts), the local fallback (fallback.ts), and the remote store with its failures
 * journaled, counted and orphaned (journaled.ts) — around the sealed, counted backend, with
 * maintenance (maintenance.ts) and write-back (write-back.ts) beside them and close() here.
 */
import type { StoreConfig } from "../../config/schema.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics/registry.js";
import { cipherFor } from "../crypto.js";
import { createMemoryStore } from "../memory.js";
import { sealedStore } from "../sealing.js";
import type { IdempotencyStore, RemoteStore } from "../types.js";
import { Backlog } from "./backlog.js";
import { countedClaims } from "./counted.js";
import { LocalFallback } from "./fallback.js";
import { HeldClaims, Holds } from "./holds.js";
import { journalFirst } from "./journal-first.js";
import { JournaledRemote } from "./journaled.js";
import { Maintenance } from "./maintenance.js";
import { WriteBack } from "./write-back.js";

export interface ReadyStore extends IdempotencyStore {
  /** false while the store cannot serve claims (for /readyz) */
  ready(): boolean;
}

/** How often the journal is written back and the store's health is checked. */
const MAINTENANCE_MS = 1000;

export async function createSharedStore(backend: RemoteStore, config: StoreConfig, deps: { metrics: Metrics; logger: Logger }): Promise<ReadyStore> {
  const { metrics, logger } = deps;
  // One cipher for the backend's records and the journal's (encryption at rest, sealing.ts).
  const cipher = cipherFor(config.encryption.key);
  const remote = countedClaims(sealedStore(backend, cipher));
  const backlog = await Backlog.open(config.journal, cipher, deps);
  const local = createMemoryStore({ maxEntries: config.maxEntries, maxSize: config.maxSize });
  const holds = new Holds();
  const writeBack = new WriteBack(remote, backlog);
  // A failed health check counts as any failed operation: a failover it alone noticed (the
  // pool moved to the new primary before any request failed) still shows.
  const maintenance = new Maintenance(
    remote,
    () => writeBack.run(),
    logger,
    MAINTENANCE_MS,
    () => metrics.storeErrors.inc({ op: "ping" }),
  );

  const journaled = new JournaledRemote(remote, { backlog, writeBack, maintenance, metrics, logger });
  const share = backlog.append.bind(backlog);
  const fallback = new LocalFallback(journaled, local, { onUnavailable: config.onUnavailable, share, metrics, logger });
  const store = journalFirst(new HeldClaims(fallback, holds), backlog, writeBack, remote);
  return {
    ...store,
    ...(remote.outcomes ? { outcomes: remote.outcomes.bind(remote) } : {}),
    // Events go straight to the database: acknowledged only once stored there, never journaled.
    ...(remote.webhooks ? { webhooks: remote.webhooks } : {}),
    // All bounded by the same short slice: the engine loops, so no timers pile up.
    waitForChange: (key, timeoutMs) => store.waitForChange(key, Math.min(timeoutMs, MAINTENANCE_MS)),
    ready: () => !config.readiness || remote.healthy(),
    async close() {
      maintenance.stop();
      holds.wakeAll();
      await writeBack.run().catch(() => {});
      await Promise.allSettled([remote.close(), local.close(), backlog.close()]);
    },
  };
}
