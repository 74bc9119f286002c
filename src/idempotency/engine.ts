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
import {
  type FinalRecord,
  type IdempotencyRecord,
  type IdempotencyStore,
  type InFlightRecord,
  isStoreError,
  type LedgerEntry,
  type RecordAbout,
  type StoredResponse,
} from "../store/types.js";
import type { Span } from "../tracing/types.js";
import type { Fields } from "./fields.js";
import type { Settlement } from "./outcome.js";
import type { Settlements } from "./settlements.js";

export interface EngineDeps {
  store: IdempotencyStore;
  metrics: Metrics;
  logger: Logger;
  /** settlements this process owes: answers the store has not taken yet, open requests */
  settlements: Settlements;
  /** this replica's name in the outcome ledger */
  replica: string;
}

export interface KeyedRequest {
  /** the gateway's name (gateways.<name>; "default" for the upstream: shorthand), for the ledger */
  gateway: string;
  /** what the gateway's events may name this payment by (idempotency/link.ts) */
  link?: string;
  route: string;
  method: string;
  /** the normalised path, without the query */
  path: string;
  policy: IdempotencyConfig;
  /** the scoped store key */
  lookupKey: string;
  /** the client's key, as it sent it (kept on the record and the ledger row, never logged) */
  key: string;
  fingerprint: string;
  requestId: string;
  /** the gateway sees the key (upstream key header, or the body field): its dedupe covers a re-send */
  gatewayDedupes: boolean;
  /** tracing on: the request's span, parent of the store calls' and a wait's spans; `db` names the store */
  trace?: { span: Span; db: string | undefined } | undefined;
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
  const count = (result: string) => {
    deps.metrics.idempotency.inc({ route: req.route, result });
    req.trace?.span.set({ "payguard.idempotency": result });
  };
  const deadline = Date.now() + policy.inFlight.maxWait;
  const about = aboutOf(req);
  let waited = false;

  for (;;) {
    // An answer this process holds because the store has not taken it yet is the truth.
    const kept = deps.settlements.pending(req.lookupKey);
    if (kept) return answerFrom(kept, req, count, waited);
    const token = randomUUID();
    const claim = await timed(
      deps,
      "claim",
      () => store.claim(req.lookupKey, { token, fingerprint: req.fingerprint, leaseMs: policy.lease, ttlMs: policy.ttl, about }),
      req.trace,
    );

    if (claim.outcome === "claimed") {
      count("new");
      return { kind: "proceed", ticket: new Ticket(deps, req, token) };
    }
    if (claim.outcome === "taken-over") return takeOver(deps, req, token, claim.previous, count);

    const record = claim.record;
    if (record.state !== "in-flight" || record.fingerprint !== req.fingerprint) return answerFrom(record, req, count, waited);
    // In flight elsewhere: wait for it to settle (woken by the store, not by polling), or refuse.
    const remaining = deadline - Date.now();
    if (policy.inFlight.strategy === "reject" || remaining <= 0) {
      count("conflict");
      throw new ProxyError("idempotency_key_in_use", undefined, { "retry-after": CONFLICT_RETRY_AFTER });
    }
    waited = true;
    // Wake at the latest when the holder's lease runs out, to notice an owner that died.
    const wait = req.trace?.span.child("idempotency wait", "internal");
    await store.waitForChange(req.lookupKey, Math.min(remaining, Math.max(record.leaseUntil - Date.now(), 10))).finally(() => wait?.end());
  }
}

/** A repeat of a key that has a record: 422 for another payload, the replay, or 502 for an unknown outcome. */
function answerFrom(record: IdempotencyRecord, req: KeyedRequest, count: (r: string) => void, waited: boolean): Begin {
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
  throw new Error("answerFrom: an in-flight record has no answer yet");
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
    await timed(deps, "release", () => deps.store.release(req.lookupKey, token), req.trace);
    count("mismatch");
    throw new ProxyError("idempotency_key_reused");
  }
  const now = Date.now();
  const reason = "owner lost mid-request";
  const entry = ledgerEntryOf(deps, req, "indeterminate", { reason }, previous.createdAt);
  const about = previous.about ?? aboutOf(req);
  await timed(
    deps,
    "complete",
    () =>
      deps.store.complete(
        req.lookupKey,
        token,
        { state: "indeterminate", fingerprint: previous.fingerprint, createdAt: previous.createdAt, completedAt: now, reason, about },
        req.policy.ttl,
        entry,
      ),
    req.trace,
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
  /** the store refused the answer: Settlements writes it again, the lease stays renewed */
  private kept = false;
  /** the key stays in flight after the request: a background completion settles it */
  private handedOff = false;
  private readonly startedAt = Date.now();

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

  /** The request is over: stop renewing — unless its answer still waits for the store, or a completion runs. */
  finish(): void {
    if (!this.kept && !this.handedOff) this.stopRenewal();
  }

  /** Keeps the key in flight (and its lease renewed) past the request, for a background completion that settles it. */
  handOff(): Ticket {
    this.handedOff = true;
    return this;
  }

  private stopRenewal(): void {
    clearInterval(this.renewal);
  }

  /**
   * Settles the key. Indeterminate when the gateway saw the key releases it: a retry
   * carries the same upstream key, so the gateway's own dedupe answers it. The lease is
   * renewed until the store has the outcome; an answer the store cannot take is kept in
   * this process and written again (settlements.ts), never dropped.
   */
  async settle(settlement: Settlement, detail: SettleDetail): Promise<void> {
    const effective = effectiveSettlement(settlement, this.req.gatewayDedupes, detail.response !== undefined);
    const record = effective === "released" ? undefined : finalRecord(effective, this.req, detail);
    const entry = ledgerEntryOf(this.deps, this.req, effective, detail, this.startedAt);
    let owned: boolean;
    try {
      owned = await this.write(record, entry);
    } catch (err) {
      this.deps.metrics.settlements.inc({ route: this.req.route, settlement: "failed" });
      // A record too big for the store stays an indeterminate marker there (memory.ts): final.
      const permanent = isStoreError(err) && err.code === "store_full";
      if (record && !permanent) return this.keep(record, effective, err, entry);
      this.stopRenewal();
      this.deps.logger.error({ reqId: this.req.requestId, err: String(err), settlement: effective }, "idempotency: could not record the outcome");
      return;
    }
    this.stopRenewal();
    this.counted(owned, effective);
  }

  private write(record: FinalRecord | undefined, entry: LedgerEntry | undefined): Promise<boolean> {
    const { store } = this.deps;
    const { lookupKey, policy } = this.req;
    const { trace } = this.req;
    if (record) return timed(this.deps, "complete", () => store.complete(lookupKey, this.token, record, policy.ttl, entry), trace);
    return timed(this.deps, "release", () => store.release(lookupKey, this.token, entry), trace);
  }

  private keep(record: FinalRecord, effective: EffectiveSettlement, err: unknown, entry: LedgerEntry | undefined): void {
    this.kept = true;
    this.deps.logger.error(
      { reqId: this.req.requestId, err: String(err), settlement: effective },
      "idempotency: the store cannot take the answer; kept in this process and written again until it does",
    );
    this.deps.settlements.keep(
      this.req.lookupKey,
      record,
      () => this.write(record, entry),
      (outcome) => {
        this.stopRenewal();
        this.counted(outcome === "stored", effective);
      },
    );
  }

  private counted(owned: boolean, effective: EffectiveSettlement): void {
    const { route, requestId } = this.req;
    if (!owned) {
      this.deps.metrics.settlements.inc({ route, settlement: "lost" });
      this.deps.logger.error({ reqId: requestId, settlement: effective }, "idempotency: key was taken over before the outcome was recorded");
      return;
    }
    this.deps.metrics.settlements.inc({ route, settlement: effective });
  }
}

type EffectiveSettlement = "stored" | "released" | "indeterminate";

/** The ledger's row for a settlement, when the store keeps a ledger. */
function ledgerEntryOf(deps: EngineDeps, req: KeyedRequest, effective: EffectiveSettlement, detail: SettleDetail, startedAt: number): LedgerEntry | undefined {
  if (!deps.store.outcomes) return undefined;
  const state = effective === "stored" ? (detail.background ? "completed-in-background" : "completed") : effective;
  return {
    record: req.lookupKey,
    key: req.key,
    gateway: req.gateway,
    ...(req.link === undefined ? {} : { link: req.link }),
    route: req.route,
    method: req.method,
    path: req.path,
    state,
    ...(detail.response ? { status: detail.response.status } : {}),
    ...(detail.attempts === undefined ? {} : { attempts: detail.attempts }),
    ...(detail.gatewayRequestId ? { gatewayRequestId: detail.gatewayRequestId } : {}),
    ...(detail.fields ? { fields: detail.fields } : {}),
    ...(state === "indeterminate" && detail.reason !== undefined ? { reason: detail.reason } : {}),
    startedAt,
    settledAt: Date.now(),
    replica: deps.replica,
  };
}

/** What a settlement knows besides its kind: the answer, and what the ledger keeps of it. */
export interface SettleDetail {
  response?: StoredResponse;
  reason?: string;
  attempts?: number;
  /** the gateway's own id for its answer */
  gatewayRequestId?: string;
  /** response fields for the ledger (idempotency.ledger.fields) */
  fields?: Fields;
  /** the answer came from payguard's own re-sends after the client's request had ended */
  background?: boolean;
}

function effectiveSettlement(settlement: Settlement, gatewayDedupes: boolean, hasResponse: boolean): EffectiveSettlement {
  if (settlement === "store") return hasResponse ? "stored" : "released";
  if (settlement === "indeterminate" && !gatewayDedupes) return "indeterminate";
  return "released";
}

/**
 * The final record of a settlement; attempts are kept so an operator sees how often the
 * gateway was tried, and what the request was with the gateway's id for its answer.
 */
function finalRecord(effective: "stored" | "indeterminate", req: KeyedRequest, detail: SettleDetail): FinalRecord {
  const now = Date.now();
  const { fingerprint } = req;
  const attempts = detail.attempts === undefined ? {} : { attempts: detail.attempts };
  const about = aboutOf(req, detail.gatewayRequestId);
  if (effective === "stored" && detail.response)
    return { state: "completed", fingerprint, createdAt: now, completedAt: now, ...attempts, response: detail.response, about };
  return { state: "indeterminate", fingerprint, createdAt: now, completedAt: now, reason: detail.reason ?? "unknown", ...attempts, about };
}

/** What the request was, as its record keeps it. */
function aboutOf(req: KeyedRequest, gatewayRequestId?: string): RecordAbout {
  const { method, path, route, gateway, key } = req;
  return { method, path, route, gateway, key, keyForwarded: req.gatewayDedupes, ...(gatewayRequestId ? { gatewayRequestId } : {}) };
}

/** A store call, timed in payguard_store_operation_duration_seconds and (tracing on) as a span `store <op>`. */
async function timed<T>(deps: EngineDeps, op: string, fn: () => Promise<T>, trace: KeyedRequest["trace"]): Promise<T> {
  const started = performance.now();
  // a database call: a CLIENT span (semantic conventions), in-process SQLite included
  const span = trace?.span.child(`store ${op}`, "client", { "db.system.name": trace.db, "payguard.store.op": op });
  try {
    const result = await fn();
    deps.metrics.storeOperationDuration.observe({ op, result: "ok" }, (performance.now() - started) / 1000);
    span?.end();
    return result;
  } catch (err) {
    deps.metrics.storeOperationDuration.observe({ op, result: "error" }, (performance.now() - started) / 1000);
    span?.end(isStoreError(err) ? err.code : "error");
    throw err;
  }
}
