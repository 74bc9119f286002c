/**
 * The simulated gateway's webhooks: after every charge it posts a `payment_captured` event
 * that names the payment by the request's `payment` (as Checkout.com's name it by
 * `data.reference`), signed as Checkout.com signs (`Cko-Signature`, the hex HMAC-SHA256 of the
 * body). Like the real ones it is late (each copy waits a delay drawn from `delayMs`),
 * duplicated (1 to `maxCopies` copies) and so out of order; a copy that is not answered 2xx
 * is sent again until it is, or until the sim closes. Draws come from the seed, per charge.
 */
import { createHmac } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { draws } from "./faults.js";
import type { Charge } from "./ledger.js";

export interface SimWebhookOptions {
  /** the signature key */
  secret: string;
  /** each copy is posted this long after the charge, drawn per copy from [min, max] ms */
  delayMs: readonly [number, number];
  /** copies of each event, drawn from 1..maxCopies */
  maxCopies: number;
}

/** What the sender did, for the demo's table. */
export interface EventTally {
  /** events (one per charge) */
  events: number;
  /** copies posted, repeats after a non-2xx included */
  posts: number;
  /** performance.now() of each event's first 2xx, by event id */
  acknowledged: ReadonlyMap<string, number>;
}

export class EventSender {
  private readonly agent = new Agent({ connections: 16 });
  private readonly pending = new Set<Promise<void>>();
  private readonly acknowledged = new Map<string, number>();
  private events = 0;
  private posts = 0;
  private url = "";

  constructor(
    private readonly options: SimWebhookOptions,
    private readonly seed: number,
    private readonly signal: AbortSignal,
  ) {}

  /** Where events are posted from now on (payguard's webhook endpoint, known once it listens). */
  aim(url: string): void {
    this.url = url;
  }

  /** Schedules the event of a charge: its copies, each after its own delay. */
  charged(charge: Charge, amount: unknown, currency: string): void {
    this.events++;
    const id = `evt_${charge.id}`;
    const body = JSON.stringify({ id, type: "payment_captured", data: { id: charge.id, reference: charge.payment, amount, currency } });
    const [copiesDraw] = draws(this.seed, "webhook", charge.id, 0);
    const copies = 1 + Math.floor(copiesDraw * this.options.maxCopies);
    for (let n = 1; n <= copies; n++) {
      const [delayDraw] = draws(this.seed, "webhook", charge.id, n);
      const [min, max] = this.options.delayMs;
      const copy = this.deliver(id, body, min + Math.floor(delayDraw * (max - min + 1)));
      this.pending.add(copy);
      void copy.finally(() => this.pending.delete(copy));
    }
  }

  /** Waits until every copy scheduled so far was answered 2xx (or the sim closed), at most `timeoutMs`; true when all were. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (this.pending.size > 0 && performance.now() < deadline) {
      const wait = new AbortController(); // the timer must not outlive the race
      await Promise.race([
        Promise.allSettled([...this.pending]),
        sleep(deadline - performance.now(), undefined, { signal: wait.signal }).catch(() => undefined),
      ]);
      wait.abort();
    }
    return this.pending.size === 0;
  }

  tally(): EventTally {
    return { events: this.events, posts: this.posts, acknowledged: this.acknowledged };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
    await this.agent.close();
  }

  private async deliver(id: string, body: string, delayMs: number): Promise<void> {
    const signature = createHmac("sha256", this.options.secret).update(body).digest("hex");
    try {
      await sleep(delayMs, undefined, { signal: this.signal });
      while (!(await this.post(body, signature))) await sleep(200, undefined, { signal: this.signal });
      if (!this.acknowledged.has(id)) this.acknowledged.set(id, performance.now());
    } catch {
      // closed: the copy is not sent
    }
  }

  /** One post; true on a 2xx. */
  private async post(body: string, signature: string): Promise<boolean> {
    this.posts++;
    try {
      const answer = await request(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "cko-signature": signature },
        body,
        dispatcher: this.agent,
        signal: this.signal,
      });
      await answer.body.dump();
      return answer.statusCode >= 200 && answer.statusCode < 300;
    } catch (err) {
      if (this.signal.aborted) throw err;
      return false;
    }
  }
}
