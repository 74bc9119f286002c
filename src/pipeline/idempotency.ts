/**
 * Idempotency, as a pipeline stage: a keyed request is claimed before it may go upstream;
 * a repeat gets the stored answer (or 409/422/502); after the gateway answers, the answer
 * is stored — before the client sees it — or the key is released or marked indeterminate,
 * or, when no answer came, completed in the background (completion.ts). The engine (../idempotency/engine.ts) owns the record logic; this file owns HTTP.
 */
import { Readable } from "node:stream";
import type { IdempotencyConfig, StoreConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { gatewayRequestId } from "../gateways/request-id.js";
import { begin, type EngineDeps, type KeyedRequest, type Ticket } from "../idempotency/engine.js";
import { fingerprintOffLoop } from "../idempotency/fingerprint.js";
import { findKey, missingScope, scopedKey } from "../idempotency/key.js";
import { linkOf } from "../idempotency/link.js";
import { settleFailure, settleResponse } from "../idempotency/outcome.js";
import type { StoredResponse } from "../store/types.js";
import type { Span } from "../tracing/types.js";
import { classifyUpstreamError } from "../upstream/classify.js";
import { type Buffered, bufferBody, headerValue, keptAnswer } from "./answer.js";
import type { BodyVars } from "./body.js";
import { completions } from "./completion.js";
import { type AppDeps, narrow, type Reply, type ReplyStage, type StageContext } from "./context.js";
import type { ForwardVars, UpstreamKeyVars } from "./forward.js";
import type { ObserveVars } from "./observe.js";
import type { RequestIdVars } from "./request-id.js";
import type { RouteVars } from "./route.js";

export const REPLAYED_HEADER = "idempotent-replayed";

/** Set here, for a keyed request, before it goes upstream (with forward.ts's upstreamKey) or is replayed. */
export interface IdempotencyVars {
  /** the idempotency record id (scoped store key), for the access line and the admin API */
  record: string | undefined;
  /** true when the answer is a stored one replayed for a repeated key (the gateway was not called): outcome `replay` */
  replayed: boolean | undefined;
}

type Vars = IdempotencyVars & UpstreamKeyVars & RouteVars & BodyVars & RequestIdVars & ObserveVars & Pick<ForwardVars, "attempts" | "maybeSent" | "resend">;
type Next = () => Promise<Reply>;

export function idempotency(deps: EngineDeps & Pick<AppDeps, "live">): ReplyStage<Vars> {
  const settle = settler(deps);
  // Not async: a request that is not keyed goes on without an async frame of this stage.
  return function idempotency(c, next) {
    const route = c.get("route");
    const policy = route.idempotency;
    if (policy.mode === "off" || !policy.methods.includes(c.req.method as never) || route.exempt(c.get("path"))) return next();
    const count = (result: string) => deps.metrics.idempotency.inc({ route: route.name, result });
    const key = clientKey(c, policy, count);
    if (!key) return next(); // mode optional, and no key sent
    return keyed(c, next, key);
  };

  /** A keyed request: claimed, then replayed — or forwarded and settled. */
  async function keyed(c: StageContext<Vars>, next: Next, key: NonNullable<ReturnType<typeof clientKey>>): Promise<Reply> {
    const policy = c.get("route").idempotency;
    const upstreamKey = upstreamKeyOf(policy.upstreamKey, key.from, key.value);
    // The ledger's link, only where a ledger keeps it (sqlite, postgres): it may parse the body.
    const link = deps.store.outcomes
      ? linkOf(policy.ledger.link, upstreamKey?.value, c.get("body"), headerValue(c.env.incoming.headers["content-type"]))
      : undefined;
    const started = await begin(deps, await keyedRequest(c, key.value, upstreamKey !== undefined, link));
    if (started.kind === "replay") {
      c.set("replayed", true);
      c.get("span")?.child("replay", "internal", { "http.response.status_code": started.response.status }).end();
      const requestIdRule = c.get("gateway").config.upstream.requestId;
      const echo = key.echo === undefined ? undefined : { header: policy.header, value: key.echo };
      return replayOf(started.response, echo, gatewayRequestId(requestIdRule, started.response.headers, started.response.body));
    }
    // We own the key: go upstream with the same key on every attempt, then settle. Shutdown
    // waits for this before it closes the store.
    c.set("upstreamKey", upstreamKey);
    return deps.settlements.track(forwardAndSettle(c, next, started.ticket, settle));
  }
}

type Count = (result: string) => void;

/** The client's key (header, else body field); undefined when optional and absent. Throws 400s. */
function clientKey(c: StageContext<Vars>, policy: IdempotencyConfig, count: Count): { value: string; from: "header" | "body"; echo?: string } | undefined {
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
async function keyedRequest(c: StageContext<Vars>, key: string, gatewayDedupes: boolean, link: string | undefined): Promise<KeyedRequest> {
  const route = c.get("route");
  const policy = route.idempotency;
  const method = c.req.method;
  const header = (name: string) => headerValue(c.env.incoming.headers[name]);
  const scopeValues = policy.scope.map(header);
  const missing = policy.requireScope ? missingScope(policy.scope, scopeValues) : [];
  if (missing.length > 0)
    throw new ProxyError("idempotency_scope_missing", `send ${missing.join(", ")} with keyed requests (an empty value counts as missing)`);
  // The record id of the admin API (/admin/records/{id}): logged on the access line, so an
  // operator can go from a request id in the logs to its record. A hash, not a secret.
  const gateway = c.get("gateway");
  const lookupKey = scopedKey({ gateway: gateway.scoped ? gateway.name : undefined, scopeValues, method, path: c.get("path"), key });
  c.set("record", lookupKey);
  return {
    gateway: gateway.name,
    ...(link === undefined ? {} : { link }),
    route: route.name,
    method,
    path: c.get("path"),
    policy,
    requestId: c.get("requestId"),
    lookupKey,
    key,
    gatewayDedupes,
    trace: traceOf(c.get("span"), c.get("generation").config.store.type),
    fingerprint: await fingerprintOffLoop(
      { method, target: c.get("path") + c.get("query"), contentType: header("content-type"), body: c.get("body") },
      {
        body: policy.fingerprint.body,
        canonicalMaxBytes: policy.fingerprint.canonicalMaxBytes,
        ignoreFields: policy.fingerprint.ignoreFields,
        headerValues: policy.fingerprint.headers.map(header),
      },
    ),
  };
}

/** The store calls' parent span and their `db.system.name` (none for the memory store). */
function traceOf(span: Span | undefined, store: StoreConfig["type"]): KeyedRequest["trace"] {
  if (!span) return undefined;
  return { span, db: store === "postgres" ? "postgresql" : store === "memory" ? undefined : store };
}

/**
 * Calls the gateway (the stages below), then settles the key: the answer is stored before
 * the client sees it, or the key is released or marked indeterminate — or, when no answer
 * came, handed to a background completion. The lease is renewed until then — including
 * while the answer's body is still arriving — so no duplicate can take over a live request.
 */
async function forwardAndSettle(c: StageContext<Vars>, next: Next, ticket: Ticket, settle: Settle): Promise<Reply> {
  ticket.startRenewal();
  try {
    let reply: Reply;
    try {
      reply = await next();
    } catch (err) {
      await settleUnanswered(c, ticket, settle, err);
      throw err;
    }
    return await storeReply(c, ticket, reply, settle);
  } finally {
    ticket.finish();
  }
}

/** No answer came: the key is released if nothing may have reached the gateway, else its outcome is unknown. */
async function settleUnanswered(c: StageContext<Vars>, ticket: Ticket, settle: Settle, err: unknown): Promise<void> {
  const failure = classifyUpstreamError(err);
  const reason = failure ? `${failure.kind} (${failure.code})` : err instanceof Error ? err.message : "no answer";
  if (settleFailure(c.get("maybeSent") ?? true) === "release") await ticket.settle("release", { reason, attempts: c.get("attempts") });
  else await settle.unknown(c, ticket, reason);
}

/** How a claimed key ends when no answer came: a background completion, else indeterminate. */
interface Settle {
  unknown(c: StageContext<Vars>, ticket: Ticket, reason: string): Promise<void>;
  keepsLedger: boolean;
}

function settler(deps: EngineDeps & Pick<AppDeps, "live">): Settle {
  const start = completions(deps);
  return {
    keepsLedger: deps.store.outcomes !== undefined,
    async unknown(c, ticket, reason) {
      const ended = { reason, attempts: c.get("attempts") };
      const unanswered = { ...ended, record: c.get("record") ?? "", gatewayDedupes: c.get("upstreamKey") !== undefined };
      if (!start(narrow(c), ticket, unanswered)) await ticket.settle("indeterminate", ended);
    },
  };
}

/**
 * How the gateway sees the key, if it does: in the configured header, or in the body when
 * the gateway dedupes on the body field and the key came from there (a key sent as a header
 * to such a gateway reaches it nowhere).
 */
function upstreamKeyOf(setting: IdempotencyConfig["upstreamKey"], from: "header" | "body", value: string): UpstreamKeyVars["upstreamKey"] {
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
async function storeReply(c: StageContext<Vars>, ticket: Ticket, reply: Reply, settle: Settle): Promise<Reply> {
  const policy = c.get("route").idempotency;
  const attempts = c.get("attempts");
  const source = reply.body as Readable;
  let buffered: Buffered;
  try {
    buffered = await bufferBody(source, policy.maxResponseSize);
  } catch (err) {
    // The gateway answered, then broke off mid-body: the outcome is unknown.
    await settle.unknown(c, ticket, "response body cut off");
    throw err;
  }
  if (!buffered.whole) {
    await ticket.settle("indeterminate", { reason: `response larger than maxResponseSize (${policy.maxResponseSize} bytes)`, attempts });
    return { ...reply, body: Readable.from(concatStreams(buffered.head, source)) };
  }
  if (reply.status === 409 && attempts > 1 && c.get("upstreamKey") !== undefined) {
    // A gateway that dedupes says "a request with this key is in progress": ours, an earlier
    // attempt. The client gets the 409; the outcome is unknown, as after a timeout.
    await settle.unknown(c, ticket, "gateway answered 409 to a retry: an earlier attempt may still be running");
    return { ...reply, body: buffered.body };
  }
  const facts = { requestIdRule: c.get("gateway").config.upstream.requestId, ledgerFields: settle.keepsLedger ? policy.ledger.fields : undefined };
  const answer = keptAnswer(reply, buffered.body, facts);
  await ticket.settle(settleResponse(reply.status, policy.replay, policy.notProcessed), { ...answer, reason: `gateway answered ${reply.status}`, attempts });
  return { ...reply, body: buffered.body, gatewayRequestId: answer.gatewayRequestId ?? reply.gatewayRequestId };
}

async function* concatStreams(head: Buffer[], rest: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  yield* head;
  for await (const chunk of rest) yield chunk as Buffer;
}

/** The stored answer as first returned, marked as a replay and echoing the key header the client sent. */
function replayOf(response: StoredResponse, echo: { header: string; value: string } | undefined, gatewayRequestId: string | undefined): Reply {
  const headers: Reply["headers"] = { ...response.headers, [REPLAYED_HEADER]: "true" };
  if (echo) headers[echo.header] = echo.value;
  return { status: response.status, headers, body: response.body, gatewayRequestId };
}
