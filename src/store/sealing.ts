/**
 * Encryption at rest, written once for every store that keeps answers on disk or in another
 * server. A completed record's response (status, headers, body) is sealed into its body,
 * bound to its key (GCM additional data), and marked by one header; fingerprints, states and
 * times stay readable. `sealedStore` puts this around any store: what goes in is sealed, what
 * comes out is opened — webhook events too (sealing-inbox.ts).
 */
import type { Cipher } from "./crypto.js";
import { sealedInbox } from "./sealing-inbox.js";
import type { CompletedRecord, FinalRecord, IdempotencyRecord, IdempotencyStore, RecordEntry, RemoteStore } from "./types.js";

/** The header that marks a sealed response (its status is 0). */
export const SEALED = "payguard-sealed";

export function isSealed(record: CompletedRecord): boolean {
  return record.response.headers[SEALED] !== undefined;
}

/** `record` with its response sealed; other records as they are. */
export function sealRecord<R extends IdempotencyRecord>(key: string, record: R, cipher: Cipher | undefined): R {
  if (!cipher || record.state !== "completed" || isSealed(record)) return record;
  const plain = Buffer.from(JSON.stringify({ ...record.response, body: record.response.body.toString("base64") }));
  return { ...record, response: { status: 0, headers: { [SEALED]: "v1" }, body: cipher.encrypt(plain, key) } };
}

/** `record` with its response opened; throws when it is sealed and no key can open it. */
export function unsealRecord<R extends IdempotencyRecord>(key: string, record: R, cipher: Cipher | undefined): R {
  if (record.state !== "completed" || !isSealed(record)) return record;
  if (!cipher) throw new Error("a stored record is encrypted but no store.encryption.key is configured");
  const response = JSON.parse(cipher.decrypt(record.response.body, key).toString("utf8")) as {
    status: number;
    headers: Record<string, string | string[]>;
    body: string;
  };
  return { ...record, response: { status: response.status, headers: response.headers, body: Buffer.from(response.body, "base64") } };
}

/** `store`, sealing every answer it keeps and opening every answer it gives. */
export function sealedStore<S extends IdempotencyStore | RemoteStore>(store: S, cipher: Cipher | undefined): S {
  if (!cipher) return store;
  // A remote store's own writes from the journal and for the operator are sealed the same way.
  const remote = "putFinal" in store ? (store as RemoteStore) : undefined;
  const remoteWrites: Partial<RemoteStore> = remote
    ? {
        putFinal: (key, record, ttlMs, entry) => remote.putFinal(key, sealRecord(key, record, cipher), ttlMs, entry),
        resolveJournaled: (key, next, ttlMs, entry) => remote.resolveJournaled(key, next && sealRecord(key, next, cipher), ttlMs, entry),
      }
    : {};
  const open = <R extends IdempotencyRecord | undefined>(key: string, record: R): R => (record ? unsealRecord(key, record, cipher) : record);
  const openEntry = (entry: RecordEntry): RecordEntry => ({ ...entry, record: open(entry.key, entry.record) });
  return {
    ...store,
    async claim(key, request) {
      const result = await store.claim(key, request);
      return result.outcome === "exists" ? { ...result, record: open(key, result.record) } : result;
    },
    get: async (key) => open(key, await store.get(key)),
    complete: (key, token, record: FinalRecord, ttlMs, entry) => store.complete(key, token, sealRecord(key, record, cipher), ttlMs, entry),
    inspect: async (key) => {
      const entry = await store.inspect(key);
      return entry && openEntry(entry);
    },
    list: async (request) => {
      const page = await store.list(request);
      return { ...page, entries: page.entries.map(openEntry) };
    },
    resolve: (key, next, entry) => store.resolve(key, next && sealRecord(key, next, cipher), entry),
    ...(store.webhooks ? { webhooks: sealedInbox(store.webhooks, cipher) } : {}),
    ...remoteWrites,
  };
}
