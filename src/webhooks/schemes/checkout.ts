/**
 * Checkout.com's webhook signature (https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks/set-up-your-webhook-receiver):
 * `Cko-Signature` is the hex HMAC-SHA256 of the raw body, keyed with the signature key of the
 * workflow's webhook action. No timestamp is signed, so a late delivery of the same bytes
 * still verifies: nothing to re-sign. The event id is the body's `id` (evt_…). checkout-sdk-node
 * ships no verifier or signer (docs/design/webhooks-schemes.md).
 */
import { createHmac } from "node:crypto";
import type { EventOutcome } from "../../store/types.js";
import { refuse, type Settles, sameBytes, type Verdict } from "./verdict.js";

export function verifyCheckout(rawBody: Buffer, header: string | undefined, secret: string): Verdict {
  if (!header) return refuse("signature_missing");
  if (!/^[0-9a-f]{64}$/i.test(header)) return refuse("signature_invalid");
  if (!sameBytes(Buffer.from(header, "hex"), createHmac("sha256", secret).update(rawBody).digest())) return refuse("signature_invalid");
  const id = eventOf(rawBody)?.id;
  return typeof id === "string" && id !== "" ? { ok: true, eventIds: [id] } : refuse("payload_invalid");
}

/** Checkout.com event types that report a payment's outcome (…/webhooks/webhook-event-types). */
const OUTCOMES: Record<string, EventOutcome> = {
  payment_approved: "succeeded",
  payment_captured: "succeeded",
  payment_declined: "failed",
  payment_capture_declined: "failed",
  payment_refunded: "refunded",
};

/** What a verified event settles: the payment its `data.reference` (the ledger's link) names. */
export function checkoutSettlement(rawBody: Buffer): Settles | undefined {
  const event = eventOf(rawBody);
  const outcome = typeof event?.type === "string" ? OUTCOMES[event.type] : undefined;
  const reference = event?.data?.reference;
  if (!outcome) return undefined;
  return { outcome, links: typeof reference === "string" && reference !== "" ? [reference] : [], requestIds: [] };
}

function eventOf(rawBody: Buffer): { id?: unknown; type?: unknown; data?: { reference?: unknown } } | undefined {
  try {
    return JSON.parse(rawBody.toString("utf8")) as ReturnType<typeof eventOf>;
  } catch {
    return undefined;
  }
}
