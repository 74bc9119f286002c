/**
 * The local fallback (`onUnavailable: local`): while the remote store is down, a claim is made
 * in this replica's memory store instead — keys are then deduplicated by this replica only,
 * logged and counted — and a key claimed there is completed, renewed and released there (by
 * its token's home), its answer shared through the journal once the remote store is back.
 * Reads the remote store cannot serve go to the memory store too. With `onUnavailable: reject`
 * nothing falls back: the remote store's failure is the caller's.
 */
import type { StoreConfig } from "../../config/schema.js";
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics/registry.js";
import type { ClaimRequest, ClaimResult, FinalRecord, IdempotencyStore, LedgerEntry, StoreStats } from "../types.js";
import { isUnavailable, type Layer } from "./layer.js";

export interface FallbackOptions {
  onUnavailable: StoreConfig["onUnavailable"];
  /** Shares an answer completed locally with the other replicas (appends it to the journal). */
  share(key: string, record: FinalRecord, ttlMs: number, ledger: LedgerEntry | undefined): Promise<void>;
  metrics: Metrics;
  logger: Logger;
}

export class LocalFallback implements Layer {
  /** tokens whose claim lives in the local store (the remote store was down when they claimed) */
  private readonly localTokens = new Set<string>();

  constructor(
    private readonly remote: Layer,
    private readonly local: IdempotencyStore,
    private readonly options: FallbackOptions,
  ) {}

  async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    try {
      return await this.remote.claim(key, request);
    } catch (err) {
      if (!this.fallsBack(err)) throw err;
      this.options.metrics.storeFallbacks.inc();
      this.options.logger.warn("store: unavailable, deduplicating in this replica only (onUnavailable: local)");
      const result = await this.local.claim(key, request);
      if (result.outcome !== "exists") this.localTokens.add(request.token);
      return result;
    }
  }

  get(key: string) {
    return this.orLocal(
      () => this.remote.get(key),
      () => this.local.get(key),
    );
  }

  async complete(key: string, token: string, record: FinalRecord, ttlMs: number, ledger?: LedgerEntry): Promise<boolean> {
    if (!this.localTokens.has(token)) return this.remote.complete(key, token, record, ttlMs, ledger);
    const done = await this.local.complete(key, token, record, ttlMs);
    // Share it once the store is back: other replicas must see this answer too.
    if (done) await this.options.share(key, record, ttlMs, ledger);
    this.localTokens.delete(token);
    return done;
  }

  renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    if (this.localTokens.has(token)) return this.local.renew(key, token, leaseMs);
    return this.remote.renew(key, token, leaseMs);
  }

  release(key: string, token: string, ledger?: LedgerEntry): Promise<boolean> {
    if (this.localTokens.delete(token)) return this.local.release(key, token);
    return this.remote.release(key, token, ledger);
  }

  inspect(key: string) {
    return this.orLocal(
      () => this.remote.inspect(key),
      () => this.local.inspect(key),
    );
  }

  async waitForChange(key: string, timeoutMs: number): Promise<void> {
    await Promise.race([this.remote.waitForChange(key, timeoutMs), this.local.waitForChange(key, timeoutMs)]);
  }

  /** Entries and bytes are the local store's (a remote store reports none); claims in flight, both stores'. */
  stats(): StoreStats {
    const r = this.remote.stats();
    const l = this.local.stats();
    return { entries: l.entries, bytes: l.bytes, inFlight: r.inFlight + l.inFlight };
  }

  private fallsBack(err: unknown): boolean {
    return isUnavailable(err) && this.options.onUnavailable === "local";
  }

  private async orLocal<T>(remoteRead: () => Promise<T>, localRead: () => Promise<T>): Promise<T> {
    try {
      return await remoteRead();
    } catch (err) {
      if (!this.fallsBack(err)) throw err;
      return localRead();
    }
  }
}
