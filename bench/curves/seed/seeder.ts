/**
 * What the store-size curve needs of a store: count its live records, and clone one record
 * payguard itself wrote under new keys, directly at the storage layer (HTTP would take hours
 * for a million). New keys have the shape of payguard's own — a base64url SHA-256, 43
 * characters — and are distinct: seedKey(i) for a counter i that only grows.
 */
import { createHash } from "node:crypto";

/** Unique to this run, so a second run on the same store never collides with the first. */
export const SEED_PREFIX = `curves-seed-${process.pid}-${Date.now()}-`;

export function seedKey(i: number): string {
  return createHash("sha256").update(`${SEED_PREFIX}${i}`).digest("base64url");
}

export interface Seeder {
  name: string;
  /** how many clones one insert() call should add at the most */
  chunk: number;
  /** live (unexpired) records in the store now */
  count(): Promise<number>;
  /** whether the store has a record under this lookup key */
  has(key: string): Promise<boolean>;
  /** adds n clones of the template record, under seedKey(first) … seedKey(first + n - 1) */
  insert(first: number, n: number): Promise<void>;
  /** after the inserts of one growth: lets the store settle (checkpoint, vacuum) before it is measured */
  settle(): Promise<void>;
  close(): Promise<void>;
}
