/**
 * PayPal's webhook signature, verified locally against a pinned certificate
 * (https://developer.paypal.com/api/rest/webhooks/rest/ — "verify the signature yourself";
 * the signed string is PayPal's own SDKs': `transmissionId|transmissionTime|webhookId|crc32`,
 * PayPal-Java-SDK Event.validateReceivedEvent, PayPal-node-SDK Notification.js):
 * `PAYPAL-TRANSMISSION-SIG` is the base64 RSA signature (`PAYPAL-AUTH-ALGO`, SHA256withRSA)
 * of `${PAYPAL-TRANSMISSION-ID}|${PAYPAL-TRANSMISSION-TIME}|${webhookId}|${crc32(rawBody)}`
 * (the CRC32 as an unsigned decimal), where webhookId is the id of payguard's webhook
 * subscription. The key is the pinned certificate's: `PAYPAL-CERT-URL` is never fetched (an
 * attacker chooses it), so a rotated PayPal certificate is refused until an operator pins it
 * — PayPal retries for 3 days. No timestamp is checked (neither do PayPal's SDKs); a replay is
 * a duplicate by event id. PayPal's key cannot be re-signed with: the service verifies the
 * forwarded headers with payguard's webhook id (docs/webhooks.md). The event id is `id`.
 */
import { createPublicKey, type KeyObject, verify, X509Certificate } from "node:crypto";
import { crc32 } from "node:zlib";
import type { EventOutcome } from "../../store/types.js";
import { refuse, type Settles, type Verdict } from "./verdict.js";

export const PAYPAL_HEADERS = ["paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig", "paypal-auth-algo", "paypal-cert-url"] as const;

const ALGORITHMS: Record<string, string> = { SHA256withRSA: "sha256", SHA512withRSA: "sha512" };

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** The public keys of every certificate in a PEM bundle (rotation: pin the old and the new). Throws when there is none. */
export function pinnedKeys(pem: string): KeyObject[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error("no PEM certificate in it");
  return blocks.map((block) => createPublicKey(new X509Certificate(block).publicKey.export({ type: "spki", format: "pem" })));
}

/** The string PayPal signs for a notification. */
export function paypalSignedString(rawBody: Buffer, transmissionId: string, transmissionTime: string, webhookId: string): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(rawBody) >>> 0}`;
}

export function verifyPaypal(rawBody: Buffer, headers: Headers, webhookId: string, keys: readonly KeyObject[]): Verdict {
  const [id, time, signature, algo] = PAYPAL_HEADERS.map((name) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  });
  if (!id || !time || !signature) return refuse("signature_missing");
  const hash = ALGORITHMS[algo ?? "SHA256withRSA"];
  if (!hash || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return refuse("signature_invalid");
  const signed = Buffer.from(paypalSignedString(rawBody, id, time, webhookId), "utf8");
  const sig = Buffer.from(signature, "base64");
  if (!keys.some((key) => verify(hash, signed, key, sig))) return refuse("signature_invalid");
  const eventId = eventOf(rawBody)?.id;
  return typeof eventId === "string" && eventId !== "" && eventId.length <= 255 ? { ok: true, eventIds: [eventId] } : refuse("payload_invalid");
}

/** PayPal event types that report a capture's outcome (developer.paypal.com/api/rest/webhooks/event-names). */
const OUTCOMES: Record<string, EventOutcome> = {
  "PAYMENT.CAPTURE.COMPLETED": "succeeded",
  "PAYMENT.CAPTURE.DECLINED": "failed",
  "PAYMENT.CAPTURE.DENIED": "failed",
  "PAYMENT.CAPTURE.REFUNDED": "refunded",
};

interface PaypalEvent {
  id?: unknown;
  event_type?: unknown;
  resource?: { custom_id?: unknown; supplementary_data?: { related_ids?: { order_id?: unknown } } };
}

/**
 * What a verified event settles: the order whose purchase unit's `custom_id` it carries (the
 * ledger's link: the create-order request's /purchase_units/0/custom_id). PayPal's events
 * never carry PayPal-Request-Id.
 */
export function paypalSettlement(rawBody: Buffer): Settles | undefined {
  const event = eventOf(rawBody);
  const outcome = typeof event?.event_type === "string" ? OUTCOMES[event.event_type] : undefined;
  if (!outcome) return undefined;
  const customId = event?.resource?.custom_id;
  return { outcome, links: typeof customId === "string" && customId !== "" ? [customId] : [], requestIds: [] };
}

function eventOf(rawBody: Buffer): PaypalEvent | undefined {
  try {
    return JSON.parse(rawBody.toString("utf8")) as PaypalEvent;
  } catch {
    return undefined;
  }
}
