/**
 * Keys claimed on this replica and not yet settled, whichever store holds the claim: a
 * duplicate arriving here must wait for them even when the shared store comes or goes
 * meanwhile — with it down, the duplicate would otherwise claim the key in the local store
 * and go to the gateway again.
 */
import { type ClaimRequest, type InFlightRecord, inFlightRecord, renewedLease } from "../types.js";
import { Waiters } from "../waiters.js";

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
