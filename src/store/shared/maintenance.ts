/**
 * What a replica does every second while a shared store may be away: checks it answers (a
 * failed check is reported as a failed operation is), frees claims whose answer never arrived
 * (the claim may have reached the store after its deadline, or a release failed), and writes
 * the journal back. One round at a time: a round that outlasts the interval (a slow store) is
 * not joined by another, whose checks and write-backs would only pile onto it.
 */
import type { Logger } from "../../log.js";
import type { LedgerEntry, RemoteStore } from "../types.js";

/** Bound on claims remembered for a late release while the store is down. */
const MAX_ORPHANS = 10_000;

export class Maintenance {
  private readonly orphans = new Map<string, { key: string; ledger?: LedgerEntry }>();
  private running = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly remote: RemoteStore,
    private readonly writeBack: () => Promise<void>,
    private readonly logger: Logger,
    intervalMs: number,
    private readonly pingFailed: () => void = () => {},
  ) {
    this.timer = setInterval(() => this.round(), intervalMs);
    this.timer.unref();
    this.round();
  }

  /** Releases the claim `token` holds on `key` once the store answers (compare-and-set: harmless if moot). */
  orphan(token: string, key: string, ledger?: LedgerEntry): void {
    if (this.orphans.size < MAX_ORPHANS) this.orphans.set(token, { key, ...(ledger ? { ledger } : {}) });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private round(): void {
    if (this.running) return;
    this.running = true;
    this.maintain()
      .catch((err: unknown) => this.logger.error({ err: String(err) }, "store: maintenance failed"))
      .finally(() => {
        this.running = false;
      });
  }

  private async maintain(): Promise<void> {
    if (!(await this.remote.ping())) {
      this.pingFailed();
      return;
    }
    for (const [token, { key, ledger }] of this.orphans) {
      await this.remote.release(key, token, ledger).then(
        () => this.orphans.delete(token),
        () => {},
      );
    }
    await this.writeBack();
  }
}
