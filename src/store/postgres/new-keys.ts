/**
 * New keys claimed together: the claims that arrive in one event-loop turn go to PostgreSQL
 * as one `INSERT … SELECT FROM unnest(…) ON CONFLICT (key) DO NOTHING` — one round trip and
 * one commit flush for all of them. Each caller learns whether its own row went in (by its
 * owner token); a key that already has a row is the caller's to claim the full way (a
 * takeover, or the record that exists). A failure fails every claim of the batch, as a
 * failure of each would.
 */
import type { ClaimRequest } from "../types.js";

interface Queued {
  key: string;
  request: ClaimRequest;
  resolve: (inserted: boolean) => void;
  reject: (err: unknown) => void;
}

/** Inserts the rows that have no key yet; resolves with the owner tokens of those inserted. */
export type InsertNew = (rows: { keys: string[]; tokens: string[]; fingerprints: string[]; leases: number[]; ttls: number[] }) => Promise<Set<string>>;

export class NewKeyClaims {
  private queue: Queued[] = [];

  constructor(private readonly insert: InsertNew) {}

  /** true: the key had no row and is now claimed by `request.token`. */
  claim(key: string, request: ClaimRequest): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (this.queue.push({ key, request, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    try {
      const inserted = await this.insert({
        keys: batch.map((q) => q.key),
        tokens: batch.map((q) => q.request.token),
        fingerprints: batch.map((q) => q.request.fingerprint),
        leases: batch.map((q) => q.request.leaseMs),
        ttls: batch.map((q) => q.request.ttlMs),
      });
      for (const q of batch) q.resolve(inserted.has(q.request.token));
    } catch (err) {
      for (const q of batch) q.reject(err);
    }
  }
}
