/**
 * The admin listing of a shared store: this replica's journal first (answers not yet written
 * back), then the store, skipping keys the journal holds — for those the journal is the
 * truth. Other replicas' journals are not seen from here.
 */
import { decodeCursor, encodeCursor, pageByKey } from "../cursor.js";
import type { IdempotencyRecord, ListPage, RecordEntry, RemoteStore } from "../types.js";
import type { Backlog } from "./backlog.js";

type Position = { p: "j"; a?: string } | { p: "r"; r?: string };

const validPosition = (v: Record<string, unknown>) =>
  (v.p === "j" && (v.a === undefined || typeof v.a === "string")) || (v.p === "r" && (v.r === undefined || typeof v.r === "string"));

export async function listShared(
  backlog: Backlog,
  remote: RemoteStore,
  { state, limit, cursor }: { state: IdempotencyRecord["state"]; limit: number; cursor?: string | undefined },
): Promise<ListPage> {
  let at: Position = cursor === undefined ? { p: "j" } : decodeCursor<Position>(cursor, validPosition);
  const entries: RecordEntry[] = [];
  if (at.p === "j") {
    const { page, last } = pageByKey(backlog.entries(state), at.a, limit);
    entries.push(...page.map((e) => backlog.entryOf(e)));
    if (last !== undefined) return { entries, cursor: encodeCursor({ p: "j", a: last }) };
    at = { p: "r" };
  }
  if (entries.length === limit) return { entries, cursor: encodeCursor({ p: "r" }) };
  const rest = await remote.list({ state, limit: limit - entries.length, cursor: at.r });
  entries.push(...rest.entries.filter((e) => !backlog.has(e.key) && !entries.some((j) => j.key === e.key)));
  return rest.cursor === undefined ? { entries } : { entries, cursor: encodeCursor({ p: "r", r: rest.cursor }) };
}
