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
 * — PayPal retries for 3 days. The body enters the signature only as a CRC32, which anyone
 * can match with other bytes: so a signed transmission is accepted for PAYPAL_TOLERANCE_S
 * after its PAYPAL-TRANSMISSION-TIME only (each delivery is a new transmission), and within
 * that window a transmission id seen with other bytes is refused (per process: TransmissionLog).
 * PayPal's key cannot be re-signed with: the service verifies the forwarded headers with
 * payguard's webhook id (docs/webhooks.md). The event id is `id`.
 */
import { createHash, createPublicKey, type KeyObject, verify, X509Certificate } from "node:crypto";
import { crc32 } from "node:zlib";
import type { EventOutcome } from "../../store/types.js";
import { refuse, type Settles, type Verdict } from "./verdict.js";

export const PAYPAL_HEADERS = ["paypal-transmission-id", "paypal-transmission-time", "paypal-transmission-sig", "paypal-auth-algo", "paypal-cert-url"] as const;

const ALGORITHMS = new Map([
  ["SHA256withRSA", "sha256"],
  ["SHA512withRSA", "sha512"],
]);

/** How long after its transmission time a signed PayPal transmission is accepted. */
export const PAYPAL_TOLERANCE_S = 300;

/**
 * The transmissions this process accepted in the tolerance window, by id, with a digest of
 * their bytes: the same id with other bytes is a forgery that kept the CRC32 (a genuine
 * duplicate of a transmission has the same bytes). Bounded by the window and by size.
 */
export class TransmissionLog {
  private readonly seen = new Map<string, { digest: string; at: number }>();

  constructor(private readonly max = 100_000) {}

  /** false when `id` was seen with other bytes. */
  admit(id: string, body: Buffer, nowMs: number): boolean {
    const digest = createHash("sha256").update(body).digest("base64");
    const known = this.seen.get(id);
    if (known && nowMs - known.at <= PAYPAL_TOLERANCE_S * 1000) return known.digest === digest;
    this.seen.delete(id);
    this.seen.set(id, { digest, at: nowMs });
    this.prune(nowMs);
    return true;
  }

  private prune(nowMs: number): void {
    for (const [id, { at }] of this.seen) {
      if (this.seen.size <= this.max && nowMs - at <= PAYPAL_TOLERANCE_S * 1000) return;
      this.seen.delete(id);
    }
  }
}

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

export function verifyPaypal(rawBody: Buffer, headers: Headers, webhookId: string, keys: readonly KeyObject[], nowMs: number, log?: TransmissionLog): Verdict {
  const [id, time, signature, algo] = PAYPAL_HEADERS.map((name) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  });
  if (!id || !time || !signature) return refuse("signature_missing");
  const hash = ALGORITHMS.get(algo ?? "SHA256withRSA");
  if (!hash || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return refuse("signature_invalid");
  const signed = Buffer.from(paypalSignedString(rawBody, id, time, webhookId), "utf8");
  const sig = Buffer.from(signature, "base64");
  if (!keys.some((key) => verify(hash, signed, key, sig))) return refuse("signature_invalid");
  const sentAt = Date.parse(time);
  if (!Number.isFinite(sentAt)) return refuse("signature_invalid");
  if (nowMs - sentAt > PAYPAL_TOLERANCE_S * 1000) return refuse("signature_stale");
  if (log && !log.admit(id, rawBody, nowMs)) return refuse("signature_invalid");
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
