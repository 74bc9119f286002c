/**
 * What a gateway's later event may name a payment by, kept on its ledger rows (the `link`
 * column): idempotency.ledger.link — "key", the key payguard forwarded (Stripe's events carry
 * it as `request.idempotency_key`), or a field of the request's JSON body that the gateway's
 * events echo (the profiles: Adyen's and Checkout.com's `/reference`, echoed as
 * `merchantReference` / `data.reference`; Square's `/reference_id`). Pure.
 */
import type { IdempotencyConfig } from "../config/schema.js";
import { pickFields } from "./fields.js";

export function linkOf(
  setting: IdempotencyConfig["ledger"]["link"],
  upstreamKey: string | undefined,
  body: Buffer | undefined,
  contentType: string | undefined,
): string | undefined {
  if (setting === "key") return upstreamKey;
  const value = body ? pickFields(body, contentType, [setting])?.[setting] : undefined;
  return typeof value === "string" && value !== "" ? value : undefined;
}
