/**
 * The gateway's own id for an answer (Stripe's Request-Id, Adyen's pspReference, ...), by
 * the profile's rule `upstream.requestId`: a response header, or a member of a JSON body.
 * For logs and records: the id the gateway's support asks for. Pure.
 */
import type { Config } from "../config/schema.js";
import { UTF8 } from "../idempotency/fingerprint.js";
import { valueAt } from "../idempotency/pointer.js";

export type RequestIdRule = Config["upstream"]["requestId"];

/** From the headers; undefined when the rule names no header or the answer has none. */
export function requestIdFromHeaders(rule: RequestIdRule, headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  if (rule.header === false) return undefined;
  const value = headers[rule.header];
  return (Array.isArray(value) ? value[0] : value) || undefined;
}

/** From the body field (a JSON string or number); undefined when there is none. */
export function requestIdFromBody(rule: RequestIdRule, body: Buffer | undefined): string | undefined {
  if (rule.field === false || !body || body.length === 0) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(UTF8.decode(body));
  } catch {
    return undefined;
  }
  const value = valueAt(document, rule.field);
  return typeof value === "string" || typeof value === "number" ? String(value) : undefined;
}

/** The header when it is there, else the body field. */
export function gatewayRequestId(
  rule: RequestIdRule,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: Buffer | undefined,
): string | undefined {
  return requestIdFromHeaders(rule, headers) ?? requestIdFromBody(rule, body);
}
