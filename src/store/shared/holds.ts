/**
 * Keys claimed on this replica and not yet settled, whichever store holds the claim: a
 * duplicate arriving here must wait for them even when the shared store comes or goes
 * meanwhile — with it down, the duplicate would otherwise claim the key in the local store
 * and go to the gateway again. `Holds` keeps them; `HeldClaims` is the layer that consults
 * and settles them around the stores below (store.ts).
 */
import { type ClaimRequest, type ClaimResult, type FinalRecord, type InFlightRecord, inFlightRecord, type LedgerEntry, renewedLease } from "../types.js";
import { Waiters } from "../waiters.js";
import type { Layer } from "./layer.js";

export class Holds {
  private readonly held = new Map<string, InFlightRecord>();
  private readonly settled = new Waiters();

  hold(key: string, request: ClaimRequest): void {
    this.held.set(key, inFlightRecord(request, Date.now()));
  }

  /** The hold on `key` while its lease lasts. */
  live(key: string): InFlightRecord | undefined {
    const record = this.held.get(key);
    if (record && record.leaseUntil > Date.now()) return record;
    this.held.delete(key);
    return undefined;
  }

  renew(key: string, token: string, leaseMs: number): void {
    const mine = this.held.get(key);
    if (mine?.token === token) Object.assign(mine, renewedLease(mine, Date.now(), leaseMs));
  }

  /**
   * Only once the outcome is durable somewhere — the store took it, or the journal has it on
   * disk — or the key was released. Wakes this replica's waiters on the key.
   */
  unhold(key: string, token: string): void {
    if (this.held.get(key)?.token === token) this.held.delete(key);
    this.settled.wake(key);
  }

  /** Resolves when a key held here is settled, or after timeoutMs. */
  waitForSettle(key: string, timeoutMs: number): Promise<void> {
    return this.settled.wait(key, timeoutMs);
  }

  wakeAll(): void {
    this.settled.wakeAll();
  }
}

/**
 * The layer that holds: a claim held here is answered before the store is asked; a claim won
 * (in either store) is held until it is completed or released; a wait also wakes when a key
 * held here settles.
 */
export class HeldClaims implements Layer {
  constructor(
    private readonly inner: Layer,
    private readonly holds: Holds,
  ) {}

  async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const mine = this.holds.live(key);
    if (mine) return { outcome: "exists", record: mine };
    const result = await this.inner.claim(key, request);
    if (result.outcome !== "exists") this.holds.hold(key, request);
    return result;
  }

  get(key: string) {
    return this.inner.get(key);
  }

  /** Unheld once the answer is durable (a failed completion is journaled below): not if it throws. */
  async complete(key: string, token: string, record: FinalRecord, ttlMs: number, ledger?: LedgerEntry): Promise<boolean> {
    const done = await this.inner.complete(key, token, record, ttlMs, ledger);
    this.holds.unhold(key, token);
    return done;
  }

  async renew(key: string, token: string, leaseMs: number): Promise<boolean> {
    this.holds.renew(key, token, leaseMs);
    return this.inner.renew(key, token, leaseMs);
  }

  async release(key: string, token: string, ledger?: LedgerEntry): Promise<boolean> {
    try {
      return await this.inner.release(key, token, ledger);
    } finally {
      this.holds.unhold(key, token);
    }
  }

  inspect(key: string) {
    return this.inner.inspect(key);
  }

  async waitForChange(key: string, timeoutMs: number): Promise<void> {
    await Promise.race([this.inner.waitForChange(key, timeoutMs), this.holds.waitForSettle(key, timeoutMs)]);
  }

  stats() {
    return this.inner.stats();
  }
}
