/**
 * Listings for the admin API: SCAN `<prefix>:{*}` on the node, or on each master of a
 * Cluster, a page at a time, resumable by an opaque cursor.
 */
import { decodeCursor, encodeCursor } from "../cursor.js";
import type { IdempotencyRecord, ListPage, RecordEntry } from "../types.js";
import type { Scanner } from "./connection.js";
import { stateOf } from "./wire.js";

/** Keys one SCAN call walks; how long one listing page may keep scanning for matches. */
const SCAN_COUNT = 1000;
const PAGE_BUDGET_MS = 1000;

/** Where a listing stopped: node (index into the scanned nodes), its SCAN cursor, last key returned from that batch. */
interface ScanPosition {
  n: number;
  c: string;
  a?: string;
}

export interface ListSource {
  prefix: string;
  scanners(): Promise<Scanner[]>;
  /** a record's JSON and remaining TTL, or null */
  inspectRaw(key: string): Promise<[string, number] | null>;
  entryOf(key: string, found: [string, number]): RecordEntry;
  /** runs a Redis call under the store's deadline and error rules */
  op<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

export async function listRecords(
  source: ListSource,
  { state, limit, cursor }: { state: IdempotencyRecord["state"]; limit: number; cursor?: string | undefined },
): Promise<ListPage> {
  const { op } = source;
  // Record keys only: `<prefix>:{<key>}` (the pub/sub channel is no key; prefixes cannot hold glob characters).
  const match = `${source.prefix}:{*}`;
  const keyFrom = (full: string) => full.slice(source.prefix.length + 2, -1);
  const nodes = await op("list", () => source.scanners());
  let at = cursor === undefined ? { n: 0, c: "0" } : decodeCursor<ScanPosition>(cursor, validPosition);
  const entries: RecordEntry[] = [];
  // Bounded: in a big keyspace with few matches a page comes back short, with a cursor.
  const until = Date.now() + PAGE_BUDGET_MS;
  while (at.n < nodes.length && Date.now() < until) {
    const node = nodes[at.n] as Scanner;
    const from: ScanPosition = at;
    const batch = await op("list", () => node.scan(from.c, { MATCH: match, COUNT: SCAN_COUNT }));
    // Sorted, so a page that ends inside a batch resumes after its last key even if a
    // repeated SCAN of the same cursor returns the batch in another order.
    const keys = batch.keys
      .map(keyFrom)
      .filter((k) => from.a === undefined || k > from.a)
      .sort();
    const found = await op("list", () => Promise.all(keys.map((k) => source.inspectRaw(k))));
    for (let i = 0; i < keys.length; i++) {
      const hit = found[i];
      const key = keys[i] as string;
      if (!hit || stateOf(hit[0]) !== state) continue;
      entries.push(source.entryOf(key, hit));
      if (entries.length === limit && i < keys.length - 1) return { entries, cursor: encodeCursor({ n: from.n, c: from.c, a: key }) };
    }
    const next = String(batch.cursor);
    at = next === "0" ? { n: from.n + 1, c: "0" } : { n: from.n, c: next };
    if (entries.length === limit) break;
  }
  return at.n < nodes.length ? { entries, cursor: encodeCursor(at) } : { entries };
}

const validPosition = (v: Record<string, unknown>) =>
  Number.isInteger(v.n) && (v.n as number) >= 0 && typeof v.c === "string" && /^\d+$/.test(v.c) && (v.a === undefined || typeof v.a === "string");
