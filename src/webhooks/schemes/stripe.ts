/**
 * Stripe's webhook signature (https://docs.stripe.com/webhooks/signature; stripe-node
 * src/Webhooks.ts): `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=…]`, each v1 an
 * HMAC-SHA256, keyed with the endpoint secret as written (`whsec_…`), over `${t}.${rawBody}`.
 * Any v1 may match (secret rolling). An event older than the tolerance (300 s, the SDK's) is
 * refused; a future t is not (as the SDK). The event id is the body's `id` (evt_…).
 * `signStripe` makes the header afresh for a delivery the service verifies later than 300 s.
 */
import { createHmac } from "node:crypto";
import type { EventOutcome } from "../../store/types.js";
import { refuse, type Settles, sameBytes, type Verdict } from "./verdict.js";

export const STRIPE_TOLERANCE_S = 300;

export function verifyStripe(rawBody: Buffer, header: string | undefined, secret: string, nowMs: number, toleranceS = STRIPE_TOLERANCE_S): Verdict {
  if (!header) return refuse("signature_missing");
  const { t, v1 } = parseHeader(header);
  if (t === undefined || v1.length === 0) return refuse("signature_invalid");
  const expected = Buffer.from(hmac(secret, t, rawBody), "hex");
  if (!v1.some((candidate) => sameBytes(Buffer.from(candidate, "hex"), expected))) return refuse("signature_invalid");
  if (nowMs / 1000 - Number(t) > toleranceS) return refuse("signature_stale");
  const id = eventId(rawBody);
  return id ? { ok: true, eventIds: [id] } : refuse("payload_invalid");
}

/** A `Stripe-Signature` header for `rawBody` at `nowMs`. */
export function signStripe(rawBody: Buffer, secret: string, nowMs: number): string {
  const t = String(Math.floor(nowMs / 1000));
  return `t=${t},v1=${hmac(secret, t, rawBody)}`;
}

function hmac(secret: string, t: string, rawBody: Buffer): string {
  return createHmac("sha256", secret).update(`${t}.`).update(rawBody).digest("hex");
}

/** `t` (digits only) and every `v1` of the header; other schemes (v0) are ignored. */
function parseHeader(header: string): { t: string | undefined; v1: string[] } {
  let t: string | undefined;
  const v1: string[] = [];
  for (const part of header.split(",")) {
    const [name, value = ""] = part.trim().split("=", 2);
    if (name === "t" && /^\d{1,12}$/.test(value)) t = value;
    if (name === "v1" && /^[0-9a-f]{64}$/i.test(value)) v1.push(value);
  }
  return { t, v1 };
}

function eventId(rawBody: Buffer): string | undefined {
  try {
    const id = (JSON.parse(rawBody.toString("utf8")) as { id?: unknown }).id;
    return typeof id === "string" && id.length > 0 && id.length <= 255 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Stripe event types that report a payment's outcome (docs.stripe.com/api/events/types). */
const STRIPE_OUTCOMES: Record<string, EventOutcome> = {
  "payment_intent.succeeded": "succeeded",
  "payment_intent.payment_failed": "failed",
  "charge.succeeded": "succeeded",
  "charge.failed": "failed",
  "charge.refunded": "refunded",
};

/**
 * What a verified Stripe event settles: the payment named by the request that caused it —
 * `request.idempotency_key` (the key payguard forwarded: the ledger's link) or `request.id`
 * (Stripe's Request-Id: the ledger's gateway_request_id). Undefined for other event types.
 */
export function stripeSettlement(rawBody: Buffer): Settles | undefined {
  let event: { type?: unknown; request?: { id?: unknown; idempotency_key?: unknown } | null };
  try {
    event = JSON.parse(rawBody.toString("utf8")) as typeof event;
  } catch {
    return undefined;
  }
  const outcome = typeof event.type === "string" ? STRIPE_OUTCOMES[event.type] : undefined;
  if (!outcome) return undefined;
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? [v] : []);
  return { outcome, links: text(event.request?.idempotency_key), requestIds: text(event.request?.id) };
}
