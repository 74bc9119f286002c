/**
 * Every metric payguard exports, defined once. One registry per running instance, so tests
 * can run several instances in one process and read each one's values.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** What the store gauges read (the store's stats()). */
interface StoreCounts {
  entries: number;
  bytes: number;
  inFlight: number;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface Metrics {
  readonly registry: Registry;
  /**
   * One per client request; `outcome` is `upstream` when the gateway answered, `replay` for a
   * stored answer replayed to a repeated key, `stream_broken` when the answer broke off, else the problem code.
   */
  readonly requests: Counter<"route" | "method" | "status_class" | "outcome">;
  readonly requestDuration: Histogram<"route" | "method" | "status_class">;
  /** One per upstream attempt; `outcome` is the status class or the failure kind. */
  readonly upstreamAttemptDuration: Histogram<"route" | "outcome">;
  /** Per keyed request: new, replayed, waited, conflict, mismatch, missing_key, invalid_key, indeterminate, takeover. */
  readonly idempotency: Counter<"route" | "result">;
  /**
   * How each claimed key ended: stored, released, indeterminate, lost (ownership lost), failed
   * (a store error; a refused answer is then kept and counted again when the store takes it).
   */
  readonly settlements: Counter<"route" | "settlement">;
  /**
   * Background completions of unknown outcomes, by how they ended: completed (the answer is
   * stored), released (the gateway said it did nothing), gave_up (maxDuration), abandoned
   * (shutdown).
   */
  readonly completions: Counter<"route" | "result">;
  readonly storeOperationDuration: Histogram<"op" | "result">;
  readonly storeEvictions: Counter;
  /** Point the store gauges (entries, bytes, in-flight) at a store. */
  observeStore(stats: () => StoreCounts): void;
  /** the request body bytes this process holds (pipeline/body-budget.ts), read when scraped */
  observeBufferedBodies(read: () => number): void;
  readonly attemptsPerRequest: Histogram<"route">;
  /** Retries made, by the condition that triggered them ("503", "connect-error", …). */
  readonly retries: Counter<"route" | "reason">;
  /** Retryable-looking failures not retried: unsafe, budget, deadline, retry_after, gateway_hint, exhausted. */
  readonly retriesSuppressed: Counter<"route" | "reason">;
  /** 0 closed, 1 open, 2 half-open. */
  readonly breakerState: Gauge<"breaker">;
  readonly breakerTransitions: Counter<"breaker" | "to">;
  readonly bulkheadRejections: Counter<"bulkhead">;
  /** Register a bulkhead's occupancy for the active/queued gauges. */
  observeBulkhead(name: string, occupancy: () => { active: number; queued: number }): void;
  readonly timeouts: Counter<"route" | "kind">;
  /** Store operations that failed (a shared store unreachable, timed out), by operation. */
  readonly storeErrors: Counter<"op">;
  /** Claims served by the local memory store because the shared store was unavailable (onUnavailable: local). */
  readonly storeFallbacks: Counter;
  /** Journal entries written back to the shared store, by result. */
  readonly journalReplays: Counter<"result">;
  /**
   * Spans leaving payguard's span processor, by result: exported, dropped (the export queue
   * was full: tracing.maxQueueSize), export_failed. Only with tracing on.
   */
  readonly traceSpans: Counter<"result">;
  /** Point the journal gauges (backlog, bytes, at its cap) at a journal. */
  observeJournal(journal: () => { entries: number; bytes: number; full: boolean }): void;
  /** Point the pending-settlements gauge (answers the store has not taken yet) at its count. */
  observeSettlements(pending: () => number): void;
  /** The config generation serving new requests (1 at start, +1 per applied reload). */
  readonly configGeneration: Gauge;
  /** Reload attempts: applied, unchanged (same file content), rejected (invalid; the old config stays). */
  readonly configReloads: Counter<"result">;
  /** 1 while the file holds changes that only a restart applies (listeners, store, ...). */
  readonly configRestartRequired: Gauge;
  /** Admin API calls, by action and result (ok, invalid, unauthorized, forbidden, not_found, conflict, unavailable, error). */
  readonly adminActions: Counter<"action" | "result">;
  /** Gateway notifications received, by gateway and result: stored, duplicate, or why refused (signature_invalid, …, store_unavailable). */
  readonly webhooksReceived: Counter<"gateway" | "result">;
  /** Delivery attempts to the service, by gateway and result: delivered, retry, dead. */
  readonly webhookDeliveries: Counter<"gateway" | "result">;
  /** From an event's receipt to the service's 2xx, per delivered event. */
  readonly webhookDeliveryLag: Histogram<"gateway">;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    ...scrapedGauges(registry),
    ...configMetrics(registry),
    ...storeMetrics(registry),
    webhookDeliveryLag: new Histogram({
      name: "payguard_webhook_delivery_lag_seconds",
      help: "From a webhook event's receipt to the service's 2xx, per delivered event.",
      labelNames: ["gateway"],
      buckets: [0.05, 0.25, 1, 5, 30, 120, 600, 3600, 21_600, 86_400, 259_200],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: "payguard_webhook_deliveries_total",
      help: "Webhook delivery attempts to the service, by gateway and result (delivered, retry, dead).",
      labelNames: ["gateway", "result"],
      registers: [registry],
    }),
    traceSpans: new Counter({
      name: "payguard_trace_spans_total",
      help: "Spans leaving the span processor (tracing on), by result: exported, dropped (queue full), export_failed.",
      labelNames: ["result"],
      registers: [registry],
    }),
    webhooksReceived: new Counter({
      name: "payguard_webhooks_received_total",
      help: "Gateway notifications received on the webhook listener, by gateway and result (stored, duplicate, or why refused).",
      labelNames: ["gateway", "result"],
      registers: [registry],
    }),
    ...resilienceMetrics(registry),
    ...requestMetrics(registry),
  };
}

/**
 * The gauges read when scraped (store, bulkheads, journal, body bytes, pending settlements),
 * and the observeX() calls that point each at what it reads.
 */
function scrapedGauges(
  registry: Registry,
): Pick<Metrics, "observeSettlements" | "observeJournal" | "observeStore" | "observeBulkhead" | "observeBufferedBodies"> {
  /** A gauge read when scraped: `read` is looked up then, so observeX() may point it elsewhere later. */
  const gaugeOf = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  let storeStats: () => StoreCounts = () => ({ entries: 0, bytes: 0, inFlight: 0 });
  gaugeOf("payguard_idempotency_in_flight", "Idempotency keys claimed whose upstream call has not settled.", () => storeStats().inFlight);
  gaugeOf("payguard_store_entries", "Records held by the idempotency store (this replica's view).", () => storeStats().entries);
  gaugeOf("payguard_store_bytes", "Approximate bytes held by the idempotency store (memory store).", () => storeStats().bytes);
  let journalState: () => { entries: number; bytes: number; full: boolean } = () => ({ entries: 0, bytes: 0, full: false });
  gaugeOf("payguard_journal_backlog", "Outcomes recorded in the local journal and not yet written back to the shared store.", () => journalState().entries);
  gaugeOf("payguard_journal_bytes", "Bytes of the outcomes waiting in the local journal (held in memory and on disk).", () => journalState().bytes);
  gaugeOf("payguard_journal_full", "1 while the journal is at store.journal's cap: new keys get 503 store_full.", () => (journalState().full ? 1 : 0));
  let bufferedBodies: () => number = () => 0;
  gaugeOf(
    "payguard_body_buffered_bytes",
    "Request body bytes held in memory by this process; at limits.maxBufferedBodyBytes new bodies get 503 overloaded.",
    () => bufferedBodies(),
  );
  let pendingSettlements: () => number = () => 0;
  gaugeOf(
    "payguard_idempotency_settlements_pending",
    "Gateway answers the store has not taken yet: held in this process and written again until it does (alert when > 0).",
    () => pendingSettlements(),
  );
  return {
    observeSettlements(pending) {
      pendingSettlements = pending;
    },
    observeJournal(journal) {
      journalState = journal;
    },
    observeStore(stats) {
      storeStats = stats;
    },
    ...bulkheadGauges(registry),
    observeBufferedBodies(read) {
      bufferedBodies = read;
    },
  };
}

/** Each bulkhead's occupancy, read when scraped, labelled by bulkhead. */
function bulkheadGauges(registry: Registry): Pick<Metrics, "observeBulkhead"> {
  const bulkheads = new Map<string, () => { active: number; queued: number }>();
  const bulkheadGauge = (name: string, help: string, pick: (o: { active: number; queued: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["bulkhead"],
      registers: [registry],
      collect() {
        for (const [bulkhead, occupancy] of bulkheads) this.set({ bulkhead }, pick(occupancy()));
      },
    });
  bulkheadGauge("payguard_bulkhead_active", "Upstream calls holding a bulkhead slot.", (o) => o.active);
  bulkheadGauge("payguard_bulkhead_queued", "Requests waiting for a bulkhead slot.", (o) => o.queued);
  return {
    observeBulkhead(name, occupancy) {
      bulkheads.set(name, occupancy);
    },
  };
}

/** Config reloads and the admin API. */
function configMetrics(registry: Registry): Pick<Metrics, "configGeneration" | "configReloads" | "configRestartRequired" | "adminActions"> {
  return {
    configGeneration: new Gauge({ name: "payguard_config_generation", help: "The config generation serving new requests.", registers: [registry] }),
    configReloads: new Counter({
      name: "payguard_config_reloads_total",
      help: "Config reloads by result: applied, unchanged, rejected (invalid; the running config stays).",
      labelNames: ["result"],
      registers: [registry],
    }),
    configRestartRequired: new Gauge({
      name: "payguard_config_restart_required",
      help: "1 while the config file holds changes that apply only after a restart.",
      registers: [registry],
    }),
    adminActions: new Counter({
      name: "payguard_admin_actions_total",
      help: "Admin API calls by action and result.",
      labelNames: ["action", "result"],
      registers: [registry],
    }),
  };
}

/** The idempotency store, the journal, and what the engine did with keys. */
function storeMetrics(
  registry: Registry,
): Pick<
  Metrics,
  "storeErrors" | "storeFallbacks" | "journalReplays" | "storeOperationDuration" | "storeEvictions" | "idempotency" | "settlements" | "completions"
> {
  return {
    storeErrors: new Counter({
      name: "payguard_store_errors_total",
      help: "Idempotency store operations that failed, by operation.",
      labelNames: ["op"],
      registers: [registry],
    }),
    storeFallbacks: new Counter({
      name: "payguard_store_fallbacks_total",
      help: "Claims served by the local memory store because the shared store was unavailable (onUnavailable: local).",
      registers: [registry],
    }),
    journalReplays: new Counter({
      name: "payguard_journal_replays_total",
      help: "Journal entries written back to the shared store, by result (written, superseded, deferred, failed).",
      labelNames: ["result"],
      registers: [registry],
    }),
    storeOperationDuration: new Histogram({
      name: "payguard_store_operation_duration_seconds",
      help: "Duration of idempotency store operations.",
      labelNames: ["op", "result"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    storeEvictions: new Counter({
      name: "payguard_store_evictions_total",
      help: "Final records evicted from the memory store under its size bounds before their TTL.",
      registers: [registry],
    }),
    idempotency: new Counter({
      name: "payguard_idempotency_total",
      help: "Requests subject to idempotency, by what the engine did with them.",
      labelNames: ["route", "result"],
      registers: [registry],
    }),
    settlements: new Counter({
      name: "payguard_idempotency_settlements_total",
      help: "How claimed idempotency keys were settled after the upstream call.",
      labelNames: ["route", "settlement"],
      registers: [registry],
    }),
    completions: new Counter({
      name: "payguard_completions_total",
      help: "Background completions of unknown outcomes (re-sends with the same upstream key), by how they ended.",
      labelNames: ["route", "result"],
      registers: [registry],
    }),
  };
}

/** Retries, breakers, bulkheads and timeouts. */
function resilienceMetrics(
  registry: Registry,
): Pick<Metrics, "attemptsPerRequest" | "retries" | "retriesSuppressed" | "breakerState" | "breakerTransitions" | "bulkheadRejections" | "timeouts"> {
  return {
    attemptsPerRequest: new Histogram({
      name: "payguard_upstream_attempts_per_request",
      help: "Upstream attempts one client request took (0 when refused before any attempt).",
      labelNames: ["route"],
      buckets: [0, 1, 2, 3, 4, 5, 6, 8, 10],
      registers: [registry],
    }),
    retries: new Counter({
      name: "payguard_retries_total",
      help: "Upstream retries, by the condition that triggered them.",
      labelNames: ["route", "reason"],
      registers: [registry],
    }),
    retriesSuppressed: new Counter({
      name: "payguard_retries_suppressed_total",
      help: "Failures that matched a retry condition but were not retried, by why.",
      labelNames: ["route", "reason"],
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: "payguard_breaker_state",
      help: "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
      labelNames: ["breaker"],
      registers: [registry],
    }),
    breakerTransitions: new Counter({
      name: "payguard_breaker_transitions_total",
      help: "Circuit breaker state changes, by the state entered.",
      labelNames: ["breaker", "to"],
      registers: [registry],
    }),
    bulkheadRejections: new Counter({
      name: "payguard_bulkhead_rejections_total",
      help: "Requests refused with 503 overloaded because the bulkhead and its queue were full.",
      labelNames: ["bulkhead"],
      registers: [registry],
    }),
    timeouts: new Counter({
      name: "payguard_timeouts_total",
      help: "Upstream timeouts, by kind: attempt (one try) or total (the whole request).",
      labelNames: ["route", "kind"],
      registers: [registry],
    }),
  };
}

/** Client requests and upstream attempts. */
function requestMetrics(registry: Registry): Pick<Metrics, "requests" | "requestDuration" | "upstreamAttemptDuration"> {
  return {
    requests: new Counter({
      name: "payguard_requests_total",
      help: "Client requests handled, by route, method, status class and outcome (upstream: the gateway answered; replay: a stored answer replayed; stream_broken; else the problem code).",
      labelNames: ["route", "method", "status_class", "outcome"],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "payguard_request_duration_seconds",
      help: "Time from request received to response finished, as seen by payguard.",
      labelNames: ["route", "method", "status_class"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    upstreamAttemptDuration: new Histogram({
      name: "payguard_upstream_attempt_duration_seconds",
      help: "Time of each upstream attempt until response headers or failure.",
      labelNames: ["route", "outcome"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
