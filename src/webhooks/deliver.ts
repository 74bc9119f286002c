/**
 * Delivery: each replica leases its endpoints' due events from the inbox (a lease per event, so
 * replicas never deliver one at the same time), posts each event's bytes and headers to the
 * service's `deliverTo`, and settles it: delivered on a 2xx (never delivered again), else
 * due again after a capped exponential backoff with jitter, or dead once older than
 * delivery.maxAge. A Stripe event is signed afresh on each attempt, so a late delivery passes
 * the service's own 300 s check; a Square event over the service's own URL. State lives in the table: a restart loses nothing (an event
 * whose replica died mid-attempt is due again when its lease runs out — at least once).
 */
import { randomUUID } from "node:crypto";
import { Agent, request } from "undici";
import type { WebhookEndpoint } from "../config/schema/webhooks.js";
import type { Config } from "../config/schema.js";
import { schemeOf } from "../config/webhooks.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { SEALED_EVENT } from "../store/sealing-inbox.js";
import type { DeliveryOutcome, StoredEvent, WebhookInbox } from "../store/types.js";
import type { Span, Tracing } from "../tracing/types.js";
import { SCHEMES } from "./schemes/index.js";

export interface DelivererDeps {
  inbox: WebhookInbox;
  metrics: Metrics;
  logger: Logger;
  /** this replica's name: leases are taken in it */
  replica: string;
  now?: () => number;
  /** tracing on: each POST to the service is a CLIENT span of a trace of its own */
  tracing?: Tracing | undefined;
}

const SEALED_WITHOUT_KEY = "its body is sealed and no store.encryption key is configured to open it";

/** The header a service can dedupe on, should an attempt whose 2xx was lost come again. */
export const EVENT_ID_HEADER = "payguard-webhook-id";

export class Deliverer {
  private readonly owner: string;
  private readonly now: () => number;
  private readonly agent: Agent;
  private readonly inFlight = new Map<string, number>();
  private readonly attempts = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private passing = false;
  private again = false;

  constructor(
    private readonly config: Config,
    private readonly deps: DelivererDeps,
  ) {
    this.owner = `${deps.replica}/${randomUUID()}`;
    this.now = deps.now ?? Date.now;
    this.agent = new Agent({ connections: config.webhooks.delivery.concurrency * 2 });
  }

  start(): void {
    this.timer = setInterval(() => this.wake(), this.config.webhooks.delivery.poll);
    this.timer.unref();
    this.wake();
  }

  /** Looks for due events now (a new one was stored; an attempt ended). */
  wake(): void {
    if (this.stopping.signal.aborted) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = true;
    void this.pass()
      .catch((err: unknown) => this.deps.logger.warn({ err }, "webhooks: could not lease due events (the store); trying again"))
      .finally(() => {
        this.passing = false;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  /** Stops leasing, aborts the attempts in flight (their events are due again) and waits for them. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await Promise.allSettled([...this.attempts]);
    await this.agent.close();
  }

  /** Leases as many due events per endpoint as it has free slots, and starts their attempts. */
  private async pass(): Promise<void> {
    const { delivery, endpoints } = this.config.webhooks;
    for (const endpoint of endpoints) {
      const free = delivery.concurrency - (this.inFlight.get(endpoint.path) ?? 0);
      if (free <= 0) continue;
      const due = await this.deps.inbox.lease(endpoint.path, this.owner, this.now(), delivery.lease, free);
      for (const event of due) this.track(endpoint, event);
    }
  }

  private track(endpoint: WebhookEndpoint, event: StoredEvent): void {
    this.inFlight.set(endpoint.path, (this.inFlight.get(endpoint.path) ?? 0) + 1);
    const attempt = this.attempt(endpoint, event).finally(() => {
      this.inFlight.set(endpoint.path, (this.inFlight.get(endpoint.path) ?? 1) - 1);
      this.attempts.delete(attempt);
      this.wake();
    });
    this.attempts.add(attempt);
  }

  private async attempt(endpoint: WebhookEndpoint, event: StoredEvent): Promise<void> {
    const started = this.now();
    // Sealed, and this store has no key to open it: never delivered as ciphertext.
    const failure = event.headers[SEALED_EVENT] !== undefined ? SEALED_WITHOUT_KEY : await this.post(endpoint, event);
    const outcome = this.outcomeOf(event, failure);
    const result = outcome.state === "delivered" ? "delivered" : outcome.state === "dead" ? "dead" : "retry";
    this.deps.metrics.webhookDeliveries.inc({ gateway: event.gateway, result });
    if (outcome.state === "delivered") this.deps.metrics.webhookDeliveryLag.observe({ gateway: event.gateway }, (outcome.at - event.receivedAt) / 1000);
    const line = { gateway: event.gateway, eventId: event.eventId, attempt: event.attempts + 1, result, durationMs: this.now() - started };
    const kept = await this.deps.inbox.settle(event, this.owner, outcome).catch((err: unknown) => {
      this.deps.logger.warn({ ...line, err }, "webhooks: could not record the delivery attempt (the store); the event is due again when its lease ends");
      return true;
    });
    if (!kept) this.deps.logger.warn(line, "webhooks: the event's lease passed to another replica during the attempt");
    else if (failure) this.deps.logger.warn({ ...line, error: failure }, "webhooks: delivery failed");
    else this.deps.logger.info(line, "webhooks: delivered");
  }

  /** One POST of the event to the service; undefined when it answered 2xx, else why not. */
  private async post(endpoint: WebhookEndpoint, event: StoredEvent): Promise<string | undefined> {
    const { timeout } = this.config.webhooks.delivery;
    const scheme = SCHEMES[schemeOf(endpoint, this.config.gateways) ?? "stripe"];
    const signature = scheme.resign?.(event.body, endpoint, this.now());
    const headers: Record<string, string> = { ...event.headers, ...signature, [EVENT_ID_HEADER]: `${event.gateway}:${event.eventId}` };
    const span = this.deliverySpan(endpoint, event, headers);
    try {
      const answer = await request(endpoint.deliverTo, {
        method: "POST",
        headers,
        body: event.body,
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(timeout)]),
      });
      await answer.body.dump();
      span?.set({ "http.response.status_code": answer.statusCode });
      const delivered = answer.statusCode >= 200 && answer.statusCode < 300;
      span?.end(delivered ? undefined : String(answer.statusCode));
      return delivered ? undefined : `the service answered ${answer.statusCode}`;
    } catch (err) {
      span?.end(err instanceof Error ? err.name : "error");
      return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
  }

  /**
   * Tracing on: the attempt's CLIENT span, its traceparent added to `headers`. The event is
   * named by its gateway and attempt number only (its id is the gateway's, in the log line).
   */
  private deliverySpan(endpoint: WebhookEndpoint, event: StoredEvent, headers: Record<string, string>): Span | undefined {
    if (!this.deps.tracing) return undefined;
    const target = new URL(endpoint.deliverTo);
    const span = this.deps.tracing.root("webhook delivery", "client", {
      "http.request.method": "POST",
      "server.address": target.hostname,
      "server.port": Number(target.port) || (target.protocol === "https:" ? 443 : 80),
      "url.full": target.origin + target.pathname,
      "payguard.webhook.gateway": event.gateway,
      "payguard.webhook.attempt": event.attempts + 1,
    });
    const propagation = span.propagation();
    for (let i = 0; i < propagation.length; i += 2) headers[propagation[i] as string] = propagation[i + 1] as string;
    return span;
  }

  private outcomeOf(event: StoredEvent, failure: string | undefined): DeliveryOutcome {
    const now = this.now();
    if (failure === undefined) return { state: "delivered", at: now };
    if (failure === SEALED_WITHOUT_KEY) return { state: "dead", at: now, error: failure };
    const { backoff, maxAge } = this.config.webhooks.delivery;
    if (now - event.receivedAt >= maxAge) return { state: "dead", at: now, error: failure };
    const ceiling = Math.min(backoff.max, backoff.initial * 2 ** Math.min(event.attempts, 30));
    // Equal jitter: never sooner than half the step, so a failing service is not hammered.
    return { state: "pending", nextAttemptAt: now + Math.floor(ceiling / 2 + (Math.random() * ceiling) / 2), error: failure };
  }
}
