/**
 * An idempotency record as the admin API shows it. Pure. Never the owner token (it would
 * let its holder complete or release the key); the stored body and Set-Cookie only when the
 * caller asked for them and the config allows it (admin.api.revealBodies).
 */
import { isUtf8 } from "node:buffer";
import type { RecordAbout, RecordEntry, StoredResponse } from "../store/types.js";

export interface RecordView {
  id: string;
  state: "in-flight" | "completed" | "indeterminate";
  createdAt: string;
  completedAt?: string;
  /** in-flight: past it, a duplicate takes the key over */
  leaseUntil?: string;
  /** when the store forgets the record, if it can tell */
  expiresAt?: string;
  /** completed: the stored answer's status, headers and size */
  status?: number;
  headers?: StoredResponse["headers"];
  bodyBytes?: number;
  /** revealed bodies: as text when valid UTF-8, else base64 */
  body?: string;
  bodyBase64?: string;
  fingerprint: string;
  /** upstream attempts the request took (final records written since it was recorded) */
  attempts?: number;
  /** indeterminate: why the outcome is unknown */
  reason?: string;
  /** what the request was: enough to ask the gateway (absent on records written before payguard kept it) */
  request?: Omit<RecordAbout, "gatewayRequestId">;
  /** final records: the gateway's own id for its answer, when it gave one */
  gatewayRequestId?: string;
  source: RecordEntry["source"];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function recordView(entry: RecordEntry, options: { reveal: boolean }): RecordView {
  const { key, record } = entry;
  const view: RecordView = { id: key, state: record.state, createdAt: iso(record.createdAt), fingerprint: record.fingerprint, source: entry.source };
  if (record.about) {
    const { gatewayRequestId, ...request } = record.about;
    view.request = request;
    if (gatewayRequestId !== undefined) view.gatewayRequestId = gatewayRequestId;
  }
  if (record.state === "in-flight") {
    view.leaseUntil = iso(record.leaseUntil);
    view.expiresAt = iso(record.expiresAt);
    return view;
  }
  view.completedAt = iso(record.completedAt);
  if (entry.expiresAt !== undefined) view.expiresAt = iso(entry.expiresAt);
  if (record.attempts !== undefined) view.attempts = record.attempts;
  if (record.state === "indeterminate") {
    view.reason = record.reason;
    return view;
  }
  const { status, headers, body } = record.response;
  view.status = status;
  // Set-Cookie may carry a session: shown only with the body.
  view.headers = options.reveal ? headers : Object.fromEntries(Object.entries(headers).filter(([name]) => name !== "set-cookie"));
  view.bodyBytes = body.length;
  if (options.reveal) {
    if (isUtf8(body)) view.body = body.toString("utf8");
    else view.bodyBase64 = body.toString("base64");
  }
  return view;
}
