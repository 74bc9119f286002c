/**
 * The idempotency engine: claim a scoped key, or replay / wait / refuse; after the upstream
 * call, settle the record (store, release, or keep as indeterminate). The HTTP side lives
 * in pipeline/idempotency.ts; this module knows records, not requests.
 */
import { randomUUID } from "node:crypto";
import type { IdempotencyConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import type { IdempotencyStore, InFlightRecord, StoredResponse } from "../store/types.js";
import type { Settlement } from "./outcome.js";

export interface EngineDeps {
  store: IdempotencyStore;
  metrics: Metrics;
  logger: Logger;
}

export interface KeyedRequest {
  route: string;
  policy: IdempotencyConfig;
  /** the scoped store key */
  lookupKey: string;
  fingerprint: string;
  requestId: string;
  /** the gateway sees the key (upstream key header, or the body field): its dedupe covers a re-send */
  gatewayDedupes: boolean;
}

export type Begin = { kind: "replay"; response: StoredResponse } | { kind: "proceed"; ticket: Ticket };

/** Seconds a 409 asks the client to wait before retrying. */
const CONFLICT_RETRY_AFTER = "1";

/**
 * Decides what a keyed request gets: the right to call the gateway (a Ticket), a replay of
 * the stored answer, or a problem (422 reused, 409 in use, 502 indeterminate).
 */
export async function begin(deps: EngineDeps, req: KeyedRequest): Promise<Begin> {
  const { store } = deps;
  const { policy } = req;
  const count = (result: string) => deps.metrics.idempotency.inc({ route: req.route, result });
  const deadline = Date.now() + policy.inFlight.maxWait;
  let waited = false;

  for (;;) {
    const token = randomUUID();
    const claim = await timed(deps, "claim", () =>
      store.claim(req.lookupKey, { token, fingerprint: req.fingerprint, leaseMs: policy.lease, ttlMs: policy.ttl }),
    );

    if (claim.outcome === "claimed") {
      count("new");
      return { kind: "proceed", ticket: new Ticket(deps, req, token) };
    }
    if (claim.outcome === "taken-over") return takeOver(deps, req, token, claim.previous, count);

    const record = claim.record;
    if (record.fingerprint !== req.fingerprint) {
      count("mismatch");
      throw new ProxyError("idempotency_key_reused");
    }
    if (record.state === "completed") {
      count(waited ? "waited" : "replayed");
      return { kind: "replay", response: record.response };
    }
    if (record.state === "indeterminate") {
      count("indeterminate");
      throw new ProxyError("outcome_indeterminate", `the first attempt ended with: ${record.reason}`);
    }
    // In flight elsewhere: wait for it to settle (woken by the store, not by polling), or refuse.
    const remaining = deadline - Date.now();
    if (policy.inFlight.strategy === "reject" || remaining <= 0) {
      count("conflict");
      throw new ProxyError("idempotency_key_in_use", undefined, { "retry-after": CONFLICT_RETRY_AFTER });
    }
    waited = true;
    // Wake at the latest when the holder's lease runs out, to notice an owner that died.
    await store.waitForChange(req.lookupKey, Math.min(remaining, Math.max(record.leaseUntil - Date.now(), 10)));
  }
}

/**
 * An earlier owner's lease ran out mid-request (crash, stall): its request may have reached
 * the gateway. With an upstream key the gateway dedupes a re-send, so proceed; without one,
 * record the outcome as indeterminate and never send it again.
 */
async function takeOver(deps: EngineDeps, req: KeyedRequest, token: string, previous: InFlightRecord, count: (r: string) => void): Promise<Begin> {
  count("takeover");
  deps.logger.warn({ reqId: req.requestId, route: req.route }, "idempotency: took over a key whose owner's lease expired");
  if (req.gatewayDedupes) {
    if (previous.fingerprint === req.fingerprint) return { kind: "proceed", ticket: new Ticket(deps, req, token) };
    // Another payload under this key: refuse it, and free the key for the original request's
    // retry, which the gateway dedupes by the same upstream key.
    await timed(deps, "release", () => deps.store.release(req.lookupKey, token));
    count("mismatch");
    throw new ProxyError("idempotency_key_reused");
  }
  const now = Date.now();
  await timed(deps, "complete", () =>
    deps.store.complete(
      req.lookupKey,
      token,
      { state: "indeterminate", fingerprint: previous.fingerprint, createdAt: previous.createdAt, completedAt: now, reason: "owner lost mid-request" },
      req.policy.ttl,
    ),
  );
  deps.metrics.settlements.inc({ route: req.route, settlement: "indeterminate" });
  if (previous.fingerprint !== req.fingerprint) {
    count("mismatch");
    throw new ProxyError("idempotency_key_reused");
  }
  count("indeterminate");
  throw new ProxyError("outcome_indeterminate", "the first attempt's replica stopped mid-request");
}

/** The right to call the gateway for one key, and the duty to settle it. */
export class Ticket {
  private renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: EngineDeps,
    private readonly req: KeyedRequest,
    private readonly token: string,
  ) {}

  /** Renews the lease while the upstream call lives, so no duplicate takes over a live request. */
  startRenewal(): void {
    const lease = this.req.policy.lease;
    this.renewal = setInterval(
      () => {
        this.deps.store.renew(this.req.lookupKey, this.token, lease).then(
          (owned) => {
            if (!owned) this.deps.logger.error({ reqId: this.req.requestId }, "idempotency: lease lost while the upstream call was running");
          },
          (err: unknown) => this.deps.logger.warn({ reqId: this.req.requestId, err: String(err) }, "idempotency: lease renewal failed"),
        );
      },
      Math.max(Math.floor(lease / 3), 50),
    );
    this.renewal.unref();
  }

  stopRenewal(): void {
    clearInterval(this.renewal);
  }

  /**
   * Settles the key. Indeterminate when the gateway saw the key releases it: a retry
   * carries the same upstream key, so the gateway's own dedupe answers it.
   */
  async settle(settlement: Settlement, detail: { response?: StoredResponse; reason?: string; attempts?: number }): Promise<void> {
    this.stopRenewal();
    const { store } = this.deps;
    const { lookupKey, policy, fingerprint, route } = this.req;
    const now = Date.now();
    // Kept in final records so an operator looking at one sees how often the gateway was tried.
    const attempts = detail.attempts === undefined ? {} : { attempts: detail.attempts };
    let effective: "stored" | "released" | "indeterminate" = settlement === "store" ? "stored" : settlement === "release" ? "released" : "indeterminate";
    if (effective === "indeterminate" && this.req.gatewayDedupes) effective = "released";

    let owned: boolean;
    try {
      if (effective === "stored" && detail.response) {
        const record = { state: "completed" as const, fingerprint, createdAt: now, completedAt: now, ...attempts, response: detail.response };
        owned = await timed(this.deps, "complete", () => store.complete(lookupKey, this.token, record, policy.ttl));
      } else if (effective === "indeterminate") {
        const record = { state: "indeterminate" as const, fingerprint, createdAt: now, completedAt: now, reason: detail.reason ?? "unknown", ...attempts };
        owned = await timed(this.deps, "complete", () => store.complete(lookupKey, this.token, record, policy.ttl));
      } else {
        owned = await timed(this.deps, "release", () => store.release(lookupKey, this.token));
      }
    } catch (err) {
      this.deps.metrics.settlements.inc({ route, settlement: "failed" });
      this.deps.logger.error({ reqId: this.req.requestId, err: String(err), settlement: effective }, "idempotency: could not record the outcome");
      return;
    }
    if (!owned) {
      this.deps.metrics.settlements.inc({ route, settlement: "lost" });
      this.deps.logger.error({ reqId: this.req.requestId, settlement: effective }, "idempotency: key was taken over before the outcome was recorded");
      return;
    }
    this.deps.metrics.settlements.inc({ route, settlement: effective });
  }
}

async function timed<T>(deps: EngineDeps, op: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await fn();
    deps.metrics.storeOperationDuration.observe({ op, result: "ok" }, (performance.now() - started) / 1000);
    return result;
  } catch (err) {
    deps.metrics.storeOperationDuration.observe({ op, result: "error" }, (performance.now() - started) / 1000);
    throw err;
  }
}
