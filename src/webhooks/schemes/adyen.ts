/**
 * Adyen's standard webhooks (https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures;
 * @adyen/api-library src/utils/hmacValidator.ts): no signature header — each
 * NotificationRequestItem carries `additionalData.hmacSignature`, base64 HMAC-SHA256 keyed
 * with the hex-decoded HMAC key over
 * `pspReference:originalReference:merchantAccountCode:merchantReference:amount.value:amount.currency:eventCode:success`
 * (a missing field is empty; no escaping). Every item must verify. No timestamp is signed, so a
 * late delivery of the same bytes still verifies: nothing to re-sign. Adyen has no event id:
 * an item is `eventCode:pspReference:success` (a redelivery repeats all three).
 */
import { createHmac } from "node:crypto";
import type { EventOutcome } from "../../store/types.js";
import { refuse, type Settles, sameBytes, type Verdict } from "./verdict.js";

type Item = Record<string, unknown> & { additionalData?: Record<string, unknown>; amount?: { value?: unknown; currency?: unknown } };

const SIGNED = ["pspReference", "originalReference", "merchantAccountCode", "merchantReference"] as const;

export function verifyAdyen(rawBody: Buffer, hexKey: string): Verdict {
  const items = itemsOf(rawBody);
  if (!items) return refuse("payload_invalid");
  const key = Buffer.from(hexKey, "hex");
  const eventIds: string[] = [];
  for (const item of items) {
    const signature = item.additionalData?.hmacSignature;
    if (typeof signature !== "string" || signature === "") return refuse("signature_missing");
    if (!sameBytes(Buffer.from(signature, "base64"), createHmac("sha256", key).update(signedString(item), "utf8").digest())) return refuse("signature_invalid");
    eventIds.push([item.eventCode, item.pspReference, item.success].map(text).join(":"));
  }
  return { ok: true, eventIds };
}

/**
 * What each verified item settles, by its event id: the payment its `merchantReference` (the
 * request's `reference`: the ledger's link) or `pspReference` / `originalReference` (the ledger's
 * gateway_request_id) names. AUTHORISATION and CAPTURE report success or failure, REFUND a refund.
 */
export function adyenSettlements(rawBody: Buffer): Map<string, Settles> {
  const settles = new Map<string, Settles>();
  for (const item of itemsOf(rawBody) ?? []) {
    const outcome = outcomeOf(text(item.eventCode), text(item.success) === "true");
    if (!outcome) continue;
    const ids = [item.pspReference, item.originalReference].map(text).filter((v) => v !== "");
    const reference = text(item.merchantReference);
    settles.set([item.eventCode, item.pspReference, item.success].map(text).join(":"), { outcome, links: reference ? [reference] : [], requestIds: ids });
  }
  return settles;
}

function outcomeOf(eventCode: string, success: boolean): EventOutcome | undefined {
  if (eventCode === "AUTHORISATION" || eventCode === "CAPTURE") return success ? "succeeded" : "failed";
  if (eventCode === "REFUND" && success) return "refunded";
  return undefined;
}

function signedString(item: Item): string {
  return [...SIGNED.map((field) => text(item[field])), text(item.amount?.value), text(item.amount?.currency), text(item.eventCode), text(item.success)].join(
    ":",
  );
}

const text = (value: unknown): string => (value === undefined || value === null ? "" : String(value));

/** The NotificationRequestItems of `{ live, notificationItems: [{ NotificationRequestItem }] }`, or undefined. */
function itemsOf(rawBody: Buffer): Item[] | undefined {
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString("utf8"));
  } catch {
    return undefined;
  }
  const list = (body as { notificationItems?: unknown })?.notificationItems;
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const items = list.map((entry) => (entry as { NotificationRequestItem?: unknown })?.NotificationRequestItem);
  return items.every((item): item is Item => typeof item === "object" && item !== null && !Array.isArray(item)) ? items : undefined;
}
