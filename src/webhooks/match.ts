/**
 * Late matching: an event that named no payment when it was stored — it came before the
 * payment's ledger row, because payguard was still waiting on the gateway when the gateway
 * sent it — is matched again every webhooks.lateMatch.every, until its window ends, so a
 * payment flagged indeterminate later is still settled by it (inbox.matchLate: once per
 * payment, across replicas). Runs beside the deliverer; stops at shutdown.
 */
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { MatchCursor, WebhookInbox } from "../store/types.js";

const BATCH = 200;

export class LateMatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** where the last pass stopped: the next goes on from there (every waiting event gets its turn) */
  private cursor: MatchCursor | undefined;

  constructor(
    private readonly config: Config,
    private readonly inbox: WebhookInbox,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.config.webhooks.lateMatch.window === 0) return;
    this.timer = setInterval(() => this.tick(), this.config.webhooks.lateMatch.every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.inbox
      .matchLate(Date.now(), BATCH, this.cursor)
      .then(({ appended, next }) => {
        this.cursor = next;
        if (appended > 0) this.logger.info({ appended }, "webhooks: events that came before their payment settled it");
      })
      .catch((err: unknown) => this.logger.warn({ err }, "webhooks: could not match waiting events (the store); trying again"))
      .finally(() => {
        this.running = undefined;
      });
  }
}
