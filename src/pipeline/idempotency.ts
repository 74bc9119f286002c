/**
 * Idempotency, as a pipeline stage: a keyed request is claimed before it may go upstream;
 * a repeat gets the stored answer (or 409/422/502); after the gateway answers, the answer
 * is stored — before the client sees it — or the key is released or marked indeterminate.
 * The engine (../idempotency/engine.ts) owns the record logic; this file owns HTTP.
 */
import { Readable } from "node:stream";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { MiddlewareHandler } from "hono";
import type { IdempotencyConfig } from "../config/schema.js";
import { ProxyError } from "../errors.js";
import { begin, type EngineDeps, type Ticket } from "../idempotency/engine.js";
import { fingerprint } from "../idempotency/fingerprint.js";
import { parseIdempotencyKey, scopedKey } from "../idempotency/key.js";
import { settleFailure, settleResponse } from "../idempotency/outcome.js";
import type { StoredResponse } from "../store/types.js";
import { classifyUpstreamError } from "../upstream/classify.js";
import type { ProxyEnv, Reply } from "./context.js";

export const REPLAYED_HEADER = "idempotent-replayed";

/** Response headers that describe this delivery, not the answer: never stored. */
const NOT_STORED = new Set(["date", "content-length", "transfer-encoding", "age"]);

export function idempotency(deps: EngineDeps): MiddlewareHandler<ProxyEnv> {
  return async function idempotency(c, next) {
    const policy = c.get("route").idempotency;
    const method = c.req.method;
    if (policy.mode === "off" || !policy.methods.includes(method as never)) return next();

    const { incoming } = c.env;
    const raw = incoming.headers[policy.header];
    const count = (result: string) => deps.metrics.idempotency.inc({ route: c.get("route").name, result });
    if (raw === undefined) {
      if (policy.mode === "optional") return next();
      count("missing_key");
      throw new ProxyError("idempotency_key_missing", `send an ${policy.header} header with ${method} requests`);
    }
    const parsed = parseIdempotencyKey(Array.isArray(raw) ? raw.join(", ") : raw);
    if (!parsed.ok) {
      count("invalid_key");
      throw new ProxyError("idempotency_key_invalid", parsed.reason);
    }

    const header = (name: string) => headerValue(incoming.headers[name]);
    // The record id of the admin API (/admin/records/{id}): logged on the access line, so an
    // operator can go from a request id in the logs to its record. A hash, not a secret.
    const lookupKey = scopedKey({ scopeValues: policy.scope.map(header), method, path: c.get("path"), key: parsed.key });
    c.set("record", lookupKey);
    const started = await begin(deps, {
      route: c.get("route").name,
      policy,
      requestId: c.get("requestId"),
      lookupKey,
      fingerprint: fingerprint(
        { method, target: c.get("path") + c.get("query"), contentType: header("content-type"), body: c.get("body") },
        { body: policy.fingerprint.body, ignoreFields: policy.fingerprint.ignoreFields, headerValues: policy.fingerprint.headers.map(header) },
      ),
    });

    if (started.kind === "replay") {
      c.set("reply", replayOf(started.response, policy.header, headerValue(raw) ?? parsed.key));
      return RESPONSE_ALREADY_SENT;
    }

    // We own the key: go upstream with the same key on every attempt, then settle.
    const ticket = started.ticket;
    if (policy.upstreamKey !== false) c.set("upstreamKey", { header: policy.upstreamKey.header, value: parsed.key });
    // The lease is renewed until the key is settled — including while the answer's body is
    // still arriving — so no duplicate can take over a live request.
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
      c.set("reply", await storeReply(ticket, reply, policy, c.get("attempts")));
    } finally {
      ticket.stopRenewal();
    }
  };
}

/**
 * Buffers the gateway's answer, records it, and returns it for the client. A body larger
 * than maxResponseSize cannot be replayed: it streams through and the key is settled as
 * indeterminate (the gateway acted, but a repeat could not be answered faithfully).
 */
async function storeReply(
  ticket: Ticket,
  reply: Reply,
  policy: Pick<IdempotencyConfig, "replay" | "notProcessed" | "maxResponseSize">,
  attempts: number,
): Promise<Reply> {
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
        return { ...reply, body: Readable.from(concatStreams(chunks, source)) };
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
  await ticket.settle(settlement, { response: stored, reason: `gateway answered ${reply.status}`, attempts });
  return { ...reply, body };
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

/** The stored answer as first returned, marked as a replay and echoing the key. */
function replayOf(response: StoredResponse, keyHeader: string, key: string): Reply {
  return {
    status: response.status,
    headers: { ...response.headers, [REPLAYED_HEADER]: "true", [keyHeader]: key },
    body: response.body,
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}
