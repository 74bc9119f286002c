/**
 * The remote store as the layers above it see it, its failures handled here: a new claim is
 * refused while the journal is at its cap; a completion the store did not take is appended to
 * the journal (fsync'd) with its owner token for write-back; a claim or release lost to the
 * store (it may have landed after our deadline) is handed to maintenance to free once the store
 * answers; every store_unavailable failure is counted (payguard_store_errors_total).
 */
import type { Logger } from "../../log.js";
import type { Metrics } from "../../metrics/registry.js";
import type { ClaimRequest, ClaimResult, FinalRecord, LedgerEntry, RemoteStore } from "../types.js";
import type { Backlog } from "./backlog.js";
import { countedUnavailable, type Layer } from "./layer.js";
import type { Maintenance } from "./maintenance.js";
import type { WriteBack } from "./write-back.js";

export interface JournaledParts {
  backlog: Backlog;
  writeBack: WriteBack;
  maintenance: Maintenance;
  metrics: Metrics;
  logger: Logger;
}

export class JournaledRemote implements Layer {
  constructor(
    private readonly remote: RemoteStore,
    private readonly parts: JournaledParts,
  ) {}

  async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const { backlog, metrics, maintenance } = this.parts;
    if (backlog.full()) {
      metrics.storeErrors.inc({ op: "claim" });
      throw backlog.fullError();
    }
    try {
      return await this.remote.claim(key, request);
    } catch (err) {
      // The claim may still have reached the store after our deadline: free it once the store answers.
      if (this.failed("claim", err)) maintenance.orphan(request.token, key);
      throw err;
    }
  }

  get(key: string) {
    return this.counted("get", () => this.remote.get(key));
  }

  async complete(key: string, token: string, record: FinalRecord, ttlMs: number, ledger?: LedgerEntry): Promise<boolean> {
    try {
      return await this.remote.complete(key, token, record, ttlMs, ledger);
    } catch (err) {
      // The gateway answered and the store did not take it — down, or up and this write failed
      // (a statement cancelled or timed out, a value refused): make it durable here first. Only
      // an answer in the journal outlives this process; write-back never overwrites a completed one.
      const { backlog, writeBack, metrics, logger } = this.parts;
      if (!this.failed("complete", err)) metrics.storeErrors.inc({ op: "complete" });
      await backlog.append(key, record, ttlMs, ledger);
      writeBack.own(key, token);
      logger.warn({ backlog: backlog.size(), err: String(err) }, "store: the completion did not commit; outcome journaled for write-back");
      return true;
    }
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    try {
      return await this.remote.renew(key, token, leaseMs);
    } catch (err) {
      if (!this.failed("renew", err)) throw err;
      return false;
    }
  }

  async release(key: string, token: string, ledger?: LedgerEntry): Promise<boolean> {
    try {
      return await this.remote.release(key, token, ledger);
    } catch (err) {
      // Retried by maintenance once the store answers.
      if (!this.failed("release", err)) throw err;
      this.parts.maintenance.orphan(token, key, ledger);
      return false;
    }
  }

  inspect(key: string) {
    return this.counted("inspect", () => this.remote.inspect(key));
  }

  waitForChange(key: string, timeoutMs: number): Promise<void> {
    return this.remote.waitForChange(key, timeoutMs);
  }

  stats() {
    return this.remote.stats();
  }

  private failed(op: string, err: unknown): boolean {
    return countedUnavailable(this.parts.metrics, op, err);
  }

  /** A read, its store_unavailable failure counted (the caller decides whether to fall back). */
  private async counted<T>(op: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      this.failed(op, err);
      throw err;
    }
  }
}
