/**
 * Idempotency, as a pipeline stage: a keyed request is claimed before it may go upstream;
 * a repeat gets the stored answer (or 409/422/502); after the gateway answers, the answer
 * is stored — before the client sees it — or the key is released or marked indeterminate.
 * The engine (../idempotency/engine.ts) owns the record logic; this file owns HTTP.
 */
import { Readable } from "node:stream";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context, MiddlewareHandler, Next } from "hono";
import type { IdempotencyConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { gatewayRequestId, type RequestIdRule } from "../gateways/request-id.js";
import { begin, type EngineDeps, type KeyedRequest, type Ticket } from "../idempotency/engine.js";
import { pickFields } from "../idempotency/fields.js";
import { fingerprint } from "../idempotency/fingerprint.js";
import { findKey, scopedKey } from "../idempotency/key.js";
import { settleFailure, settleResponse } from "../idempotency/outcome.js";
import type { StoredResponse } from "../store/types.js";
import { classifyUpstreamError } from "../upstream/classify.js";
import type { ProxyEnv, Reply, RequestVars } from "./context.js";

export const REPLAYED_HEADER = "idempotent-replayed";

/** Response headers that describe this delivery, not the answer: never stored. */
const NOT_STORED = new Set(["date", "content-length", "transfer-encoding", "age"]);

export function idempotency(deps: EngineDeps): MiddlewareHandler<ProxyEnv> {
  return async function idempotency(c, next) {
    const route = c.get("route");
    const policy = route.idempotency;
    if (policy.mode === "off" || !policy.methods.includes(c.req.method as never) || route.exempt(c.get("path"))) return next();
    const count = (result: string) => deps.metrics.idempotency.inc({ route: route.name, result });
    const key = clientKey(c, policy, count);
    if (!key) return next(); // mode optional, and no key sent

    const upstreamKey = upstreamKeyOf(policy.upstreamKey, key.from, key.value);
    const started = await begin(deps, keyedRequest(c, key.value, upstreamKey !== undefined));
    if (started.kind === "replay") {
      const requestIdRule = c.get("generation").config.upstream.requestId;
      c.set("reply", replayOf(started.response, key.echo === undefined ? undefined : { header: policy.header, value: key.echo }));
      c.set("gatewayRequestId", gatewayRequestId(requestIdRule, started.response.headers, started.response.body));
      return RESPONSE_ALREADY_SENT;
    }
    // We own the key: go upstream with the same key on every attempt, then settle. Shutdown
    // waits for this before it closes the store.
    c.set("upstreamKey", upstreamKey);
    await deps.settlements.track(forwardAndSettle(c, next, started.ticket, deps.store.outcomes !== undefined));
  };
}

type Count = (result: string) => void;

/** The client's key (header, else body field); undefined when optional and absent. Throws 400s. */
function clientKey(c: Context<ProxyEnv>, policy: IdempotencyConfig, count: Count): { value: string; from: "header" | "body"; echo?: string } | undefined {
  const { headers } = c.env.incoming;
  const key = findKey({
    header: headers[policy.header],
    contentType: headerValue(headers["content-type"]),
    body: c.get("body"),
    bodyField: policy.bodyField,
    maxLength: policy.maxKeyLength,
    prefer: policy.upstreamKey === "body" ? "body" : "header",
  });
  if (!key.found) {
    if (policy.mode === "optional") return undefined;
    count("missing_key");
    throw new ProxyError("idempotency_key_missing", missingKeyDetail(policy, c.req.method));
  }
  if (!key.parse.ok) {
    count("invalid_key");
    throw new ProxyError("idempotency_key_invalid", key.parse.reason);
  }
  return { value: key.parse.key, from: key.from, ...(key.echo === undefined ? {} : { echo: key.echo }) };
}

/** The record this request claims: its scoped id, its fingerprint, and whether the gateway dedupes it. */
function keyedRequest(c: Context<ProxyEnv>, key: string, gatewayDedupes: boolean): KeyedRequest {
  const route = c.get("route");
  const policy = route.idempotency;
  const method = c.req.method;
  const header = (name: string) => headerValue(c.env.incoming.headers[name]);
  const scopeValues = policy.scope.map(header);
  const missing = policy.scope.filter((_name, i) => scopeValues[i] === undefined);
  if (policy.requireScope && missing.length > 0) throw new ProxyError("idempotency_scope_missing", `send ${missing.join(", ")} with keyed requests`);
  // The record id of the admin API (/admin/records/{id}): logged on the access line, so an
  // operator can go from a request id in the logs to its record. A hash, not a secret.
  const lookupKey = scopedKey({ scopeValues, method, path: c.get("path"), key });
  c.set("record", lookupKey);
  return {
    route: route.name,
    method,
    path: c.get("path"),
    policy,
    requestId: c.get("requestId"),
    lookupKey,
    gatewayDedupes,
    fingerprint: fingerprint(
      { method, target: c.get("path") + c.get("query"), contentType: header("content-type"), body: c.get("body") },
      { body: policy.fingerprint.body, ignoreFields: policy.fingerprint.ignoreFields, headerValues: policy.fingerprint.headers.map(header) },
    ),
  };
}

/**
 * Calls the gateway (the stages below), then settles the key: the answer is stored before
 * the client sees it, or the key is released or marked indeterminate. The lease is renewed
 * until then — including while the answer's body is still arriving — so no duplicate can
 * take over a live request.
 */
async function forwardAndSettle(c: Context<ProxyEnv>, next: Next, ticket: Ticket, keepsLedger: boolean): Promise<void> {
  ticket.startRenewal();
  try {
    await next();
    const reply = c.get("reply");
    if (c.error || !reply) {
      const failure = classifyUpstreamError(c.error);
      await ticket.settle(settleFailure(c.get("maybeSent") ?? true), {
        reason: failure ? `${failure.kind} (${failure.code})` : (c.error?.message ?? "no answer"),
        attempts: c.get("attempts"),
      });
      return;
    }
    const requestIdRule = c.get("generation").config.upstream.requestId;
    const stored = await storeReply(ticket, reply, c.get("route").idempotency, { attempts: c.get("attempts"), requestIdRule, keepsLedger });
    c.set("reply", stored.reply);
    if (stored.gatewayRequestId) c.set("gatewayRequestId", stored.gatewayRequestId);
  } finally {
    ticket.finish();
  }
}

/**
 * How the gateway sees the key, if it does: in the configured header, or in the body when
 * the gateway dedupes on the body field and the key came from there (a key sent as a header
 * to such a gateway reaches it nowhere).
 */
function upstreamKeyOf(setting: IdempotencyConfig["upstreamKey"], from: "header" | "body", value: string): RequestVars["upstreamKey"] {
  if (setting === false) return undefined;
  if (setting === "body") return from === "body" ? { value } : undefined;
  return { header: setting.header, value };
}

function missingKeyDetail(policy: Pick<IdempotencyConfig, "header" | "bodyField">, method: string): string {
  const where = policy.bodyField === false ? `an ${policy.header} header` : `an ${policy.header} header or the JSON body field ${policy.bodyField}`;
  return `send ${where} with ${method} requests`;
}

/**
 * Buffers the gateway's answer, records it, and returns it for the client. A body larger
 * than maxResponseSize cannot be replayed: it streams through and the key is settled as
 * indeterminate (the gateway acted, but a repeat could not be answered faithfully).
 */
async function storeReply(
  ticket: Ticket,
  reply: Reply,
  policy: Pick<IdempotencyConfig, "replay" | "notProcessed" | "maxResponseSize" | "ledger">,
  facts: { attempts: number; requestIdRule: RequestIdRule; keepsLedger: boolean },
): Promise<{ reply: Reply; gatewayRequestId?: string }> {
  const { attempts } = facts;
  const { maxResponseSize } = policy;
  const source = reply.body as Readable;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    // destroyOnReturn: false — leaving the loop early (too large) must not destroy the body
    // we go on streaming to the client.
    for await (const chunk of source.iterator({ destroyOnReturn: false })) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size > maxResponseSize) {
        await ticket.settle("indeterminate", { reason: `response larger than maxResponseSize (${maxResponseSize} bytes)`, attempts });
        return { reply: { ...reply, body: Readable.from(concatStreams(chunks, source)) } };
      }
    }
  } catch (err) {
    // The gateway answered, then broke off mid-body: the outcome is unknown.
    await ticket.settle("indeterminate", { reason: "response body cut off", attempts });
    throw err;
  }
  const body = Buffer.concat(chunks, size);
  const settlement = settleResponse(reply.status, policy.replay, policy.notProcessed);
  const stored: StoredResponse = { status: reply.status, headers: storableHeaders(reply.headers), body };
  const gatewayId = gatewayRequestId(facts.requestIdRule, reply.headers, body);
  const contentType = headerValue(reply.headers["content-type"]);
  const fields = facts.keepsLedger ? pickFields(body, contentType, policy.ledger.fields) : undefined;
  await ticket.settle(settlement, {
    response: stored,
    reason: `gateway answered ${reply.status}`,
    attempts,
    ...(gatewayId ? { gatewayRequestId: gatewayId } : {}),
    ...(fields ? { fields } : {}),
  });
  return { reply: { ...reply, body }, ...(gatewayId ? { gatewayRequestId: gatewayId } : {}) };
}

async function* concatStreams(head: Buffer[], rest: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  yield* head;
  for await (const chunk of rest) yield chunk as Buffer;
}

function storableHeaders(headers: Reply["headers"]): StoredResponse["headers"] {
  const out: StoredResponse["headers"] = Object.create(null); // a header may be named __proto__
  for (const [name, value] of Object.entries(headers)) if (!NOT_STORED.has(name)) out[name] = value;
  return out;
}

/** The stored answer as first returned, marked as a replay and echoing the key header the client sent. */
function replayOf(response: StoredResponse, echo: { header: string; value: string } | undefined): Reply {
  const headers: Reply["headers"] = { ...response.headers, [REPLAYED_HEADER]: "true" };
  if (echo) headers[echo.header] = echo.value;
  return { status: response.status, headers, body: response.body };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}
