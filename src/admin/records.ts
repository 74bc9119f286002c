/**
 * /admin/records: look into idempotency records and resolve indeterminate ones.
 *
 * - `GET /admin/records?state=indeterminate|in-flight|completed[&limit=100][&cursor=…]` lists.
 * - `GET /admin/records?method=…&path=…&key=…` (+ `Payguard-Scope-*` headers) looks one up
 *   by what the client sent (lookup.ts).
 * - `GET /admin/records/{id}[?include=body]` shows one; the body only with
 *   `admin.api.revealBodies: true` (else 403).
 * - `POST /admin/records/{id}/resolve` completes an indeterminate record with the gateway's
 *   real answer (replayed to the client's repeats from then on) or releases it (the client's
 *   retry goes to the gateway afresh). Compare-and-set in the store: a record that is not
 *   indeterminate any more is left alone (409).
 *
 * Authentication and the audit line are middleware (auth.ts, audit.ts), mounted in ../admin.ts.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ProxyError } from "../errors.js";
import { type Fields, pickFields } from "../idempotency/fields.js";
import type { AppDeps } from "../pipeline/context.js";
import {
  type CompletedRecord,
  type IndeterminateRecord,
  isInvalidCursor,
  type LedgerEntry,
  type ListPage,
  type RecordAbout,
  type RecordEntry,
  type RecordState,
  type StoredResponse,
} from "../store/types.js";
import { type AdminEnv, noteAudit } from "./audit.js";
import { lookupId } from "./lookup.js";
import { parseLimit, wantsBody } from "./params.js";
import { parseResolution, type Resolution } from "./resolution.js";
import { recordView } from "./view.js";

const STATES: readonly RecordState[] = ["in-flight", "completed", "indeterminate"];
/** Record ids are SHA-256 in base64url (43 characters); a little slack, nothing else. */
const RECORD_ID = /^[A-Za-z0-9_-]{1,128}$/;

type RecordDeps = Pick<AppDeps, "live" | "store" | "replica">;

export function recordRoutes(deps: RecordDeps): Hono<AdminEnv> {
  const records = new Hono<AdminEnv>();
  records.get("/", (c) => (c.req.query("key") !== undefined ? lookUp(c, deps) : list(c, deps)));
  records.get("/:id", async (c) => {
    const id = recordId(c);
    const reveal = wantsBody(c.req.query("include"), revealAllowed(deps));
    return c.json(recordView(await find(deps, id), { reveal }));
  });
  records.post("/:id/resolve", resolveBodyLimit(deps), (c) => resolve(c, deps));
  return records;
}

function revealAllowed(deps: RecordDeps): boolean {
  return deps.live.current.config.admin.api.revealBodies;
}

async function find(deps: RecordDeps, id: string): Promise<RecordEntry> {
  const entry = await deps.store.inspect(id);
  if (!entry) throw new ProxyError("record_not_found");
  return entry;
}

/** `GET /admin/records?method=…&path=…&key=…`: one record, by what the client sent. */
async function lookUp(c: Context<AdminEnv>, deps: RecordDeps): Promise<Response> {
  const id = lookupId(c, deps.live.current);
  noteAudit(c, { record: id });
  return c.json(recordView(await find(deps, id), { reveal: wantsBody(c.req.query("include"), revealAllowed(deps)) }));
}

/** `GET /admin/records?state=…`: one page of the records in that state. */
async function list(c: Context<AdminEnv>, deps: RecordDeps): Promise<Response> {
  const state = c.req.query("state") as RecordState | undefined;
  if (state === undefined || !STATES.includes(state)) {
    throw new ProxyError("admin_invalid_request", "give state (in-flight, completed or indeterminate) to list, or method, path and key to look up");
  }
  if (c.req.query("include") !== undefined) throw new ProxyError("admin_invalid_request", "include=body is for one record: GET /admin/records/{id}");
  const limit = parseLimit(c.req.query("limit"));
  let page: ListPage;
  try {
    page = await deps.store.list({ state, limit, cursor: c.req.query("cursor") });
  } catch (err) {
    if (isInvalidCursor(err)) throw new ProxyError("admin_invalid_request", "cursor: not one this API returned (or the store changed since)");
    throw err;
  }
  return c.json({ records: page.entries.map((e) => recordView(e, { reveal: false })), ...(page.cursor ? { nextCursor: page.cursor } : {}) });
}

/** An operator's answer is at most idempotency.maxResponseSize bytes; JSON escaping may grow it. */
function resolveBodyLimit(deps: RecordDeps): MiddlewareHandler<AdminEnv> {
  return function resolveBodyLimit(c, next) {
    return bodyLimit({
      maxSize: 6 * deps.live.current.config.idempotency.maxResponseSize + 64 * 1024,
      onError: () => {
        throw new ProxyError("admin_invalid_request", "the request body is too large");
      },
    })(c, next);
  };
}

/** `POST /admin/records/{id}/resolve`: compare-and-set of an indeterminate record. */
async function resolve(c: Context<AdminEnv>, deps: RecordDeps): Promise<Response> {
  const id = recordId(c);
  const resolution = parseResolution(await c.req.text(), deps.live.current.config.idempotency.maxResponseSize);
  noteAudit(c, { reason: resolution.reason, operator: resolution.operator, resolution: resolution.action });
  const entry = await find(deps, id);
  const held = entry.record;
  if (held.state !== "indeterminate") throw new ProxyError("record_not_resolvable", `the record is ${held.state}`);
  const next = resolution.action === "complete" ? completedWith(held, resolution.response) : undefined;
  const result = await deps.store.resolve(id, next, operatorEntry(deps, id, held, resolution, next));
  if (result === "not_found") throw new ProxyError("record_not_found", "the record expired meanwhile");
  if (result === "not_indeterminate") throw new ProxyError("record_not_resolvable", "the record changed meanwhile");
  // A journaled record was resolved into the shared store (Redis or PostgreSQL): shown as
  // that store now holds it, its source naming the store. Any other was resolved in place.
  const resolved: RecordEntry | undefined = next && (entry.source === "journal" ? await find(deps, id) : { ...entry, record: next });
  return c.json({ id, resolution: resolution.action, record: resolved ? recordView(resolved, { reveal: false }) : null });
}

/**
 * The record an operator's answer completes. The client's repeat must match the record's
 * fingerprint to get this answer, and the record keeps its creation time and its remaining
 * TTL (the store keeps the TTL).
 */
function completedWith(held: IndeterminateRecord, response: StoredResponse): CompletedRecord {
  return {
    state: "completed",
    fingerprint: held.fingerprint,
    createdAt: held.createdAt,
    completedAt: Date.now(),
    ...(held.attempts === undefined ? {} : { attempts: held.attempts }),
    response,
    ...(held.about === undefined ? {} : { about: held.about }),
  };
}

/**
 * The ledger's row for an operator's resolution: the decision, why and who. The request is
 * the record's own (RecordAbout); a record written before it was kept names none, and the
 * store then takes it from the record's last ledger row.
 */
function operatorEntry(
  deps: RecordDeps,
  id: string,
  held: IndeterminateRecord,
  resolution: Resolution,
  next: CompletedRecord | undefined,
): LedgerEntry | undefined {
  if (!deps.store.outcomes) return undefined;
  const about = held.about;
  const request = about
    ? { gateway: about.gateway, route: about.route, method: about.method, path: about.path, key: about.key }
    : { route: "", method: "", path: "" };
  return {
    record: id,
    ...request,
    state: "resolved-by-operator",
    ...(next ? { status: next.response.status } : {}),
    ...(about?.gatewayRequestId ? { gatewayRequestId: about.gatewayRequestId } : {}),
    ...operatorFields(deps, about, next),
    decision: resolution.action,
    reason: resolution.reason,
    operator: resolution.operator,
    startedAt: held.createdAt,
    settledAt: Date.now(),
    replica: deps.replica,
  };
}

/**
 * The fields the route's ledger keeps (idempotency.ledger.fields), picked from the operator's
 * answer as from a gateway's: the gateway's real answer, so the row joins the gateway's records
 * by charge id as the others do. The route is the one the request matches in the running config.
 */
function operatorFields(deps: RecordDeps, about: RecordAbout | undefined, next: CompletedRecord | undefined): { fields?: Fields } {
  if (!about || !next) return {};
  const gateway = deps.live.current.gateway(about.gateway);
  const pointers = gateway?.routes.match(about.method, about.path).idempotency.ledger.fields ?? [];
  const type = next.response.headers["content-type"];
  const fields = pickFields(next.response.body, Array.isArray(type) ? type[0] : type, pointers);
  return fields ? { fields } : {};
}

function recordId(c: Context<AdminEnv>): string {
  const id = c.req.param("id") ?? "";
  if (!RECORD_ID.test(id)) throw new ProxyError("admin_invalid_request", "not a record id");
  noteAudit(c, { record: id });
  return id;
}
