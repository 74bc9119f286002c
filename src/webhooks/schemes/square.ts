/**
 * Square's webhook signature (https://developer.squareup.com/docs/webhooks/step3validate; the
 * square SDK's WebhooksHelper.verifySignature): `x-square-hmacsha256-signature` is the base64
 * HMAC-SHA256, keyed with the subscription's signature key as written, over the notification
 * URL exactly as registered on the subscription followed by the raw body. No timestamp is
 * signed, but the URL is: Square signed payguard's public URL, and the service verifies with
 * its own, so every delivery is signed afresh over the service's URL (`signSquare`). The event
 * id is the body's `event_id`. The SDK exports no signer (docs/design/webhooks-schemes.md).
 */
import { createHmac } from "node:crypto";
import type { EventOutcome } from "../../store/types.js";
import { refuse, type Settles, sameBytes, type Verdict } from "./verdict.js";

export const SQUARE_SIGNATURE = "x-square-hmacsha256-signature";

export function verifySquare(rawBody: Buffer, header: string | undefined, secret: string, notificationUrl: string): Verdict {
  if (!header) return refuse("signature_missing");
  if (!/^[A-Za-z0-9+/]{43}=$/.test(header)) return refuse("signature_invalid");
  if (!sameBytes(Buffer.from(header, "base64"), hmac(secret, notificationUrl, rawBody))) return refuse("signature_invalid");
  const id = eventOf(rawBody)?.event_id;
  return typeof id === "string" && id !== "" && id.length <= 255 ? { ok: true, eventIds: [id] } : refuse("payload_invalid");
}

/** The `x-square-hmacsha256-signature` for `rawBody` as posted to `notificationUrl`. */
export function signSquare(rawBody: Buffer, secret: string, notificationUrl: string): string {
  return hmac(secret, notificationUrl, rawBody).toString("base64");
}

function hmac(secret: string, notificationUrl: string, rawBody: Buffer): Buffer {
  return createHmac("sha256", secret).update(notificationUrl, "utf8").update(rawBody).digest();
}

/** A Payment's status (…/reference/square/objects/Payment): APPROVED is authorised, not yet captured. */
const PAYMENT_OUTCOMES: Record<string, EventOutcome> = { APPROVED: "succeeded", COMPLETED: "succeeded", FAILED: "failed", CANCELED: "failed" };

interface SquareEvent {
  event_id?: unknown;
  type?: unknown;
  data?: { object?: { payment?: { id?: unknown; status?: unknown; reference_id?: unknown }; refund?: { payment_id?: unknown; status?: unknown } } };
}

/**
 * What a verified event settles: `payment.created` / `payment.updated` in a final status name
 * the payment by its `reference_id` (the ledger's link: the request's /reference_id) and its
 * id (the ledger's gateway_request_id, the answer's /payment/id); a COMPLETED
 * `refund.updated` names the payment it refunds by id. Square's events never carry the
 * idempotency key.
 */
export function squareSettlement(rawBody: Buffer): Settles | undefined {
  const event = eventOf(rawBody);
  const object = event?.data?.object;
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? [v] : []);
  if ((event?.type === "payment.created" || event?.type === "payment.updated") && object?.payment) {
    const outcome = typeof object.payment.status === "string" ? PAYMENT_OUTCOMES[object.payment.status] : undefined;
    return outcome && { outcome, links: text(object.payment.reference_id), requestIds: text(object.payment.id) };
  }
  if (event?.type === "refund.updated" && object?.refund?.status === "COMPLETED")
    return { outcome: "refunded", links: [], requestIds: text(object.refund.payment_id) };
  return undefined;
}

function eventOf(rawBody: Buffer): SquareEvent | undefined {
  try {
    return JSON.parse(rawBody.toString("utf8")) as SquareEvent;
  } catch {
    return undefined;
  }
}
