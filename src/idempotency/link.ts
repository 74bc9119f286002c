/**
 * What a gateway's later event may name a payment by, kept on its ledger rows (the `link`
 * column) — whatever that gateway's events echo of the request: Stripe's carry the idempotency
 * key it saw (`request.idempotency_key`: the key payguard forwarded); Adyen's and
 * Checkout.com's carry the request's own reference (`merchantReference`, `reference`: the
 * request body's `/reference`), never the key; Square's carry the payment's `reference_id`
 * (the request's `/reference_id`), never its `idempotency_key`. Pure.
 */
import type { GatewayName } from "../gateways/detect.js";
import { pickFields } from "./fields.js";

const REFERENCE: Partial<Record<GatewayName, string>> = { adyen: "/reference", checkout: "/reference", square: "/reference_id" };

export function linkOf(gateway: GatewayName, upstreamKey: string | undefined, body: Buffer | undefined, contentType: string | undefined): string | undefined {
  const pointer = REFERENCE[gateway];
  if (!pointer) return upstreamKey;
  const value = body ? pickFields(body, contentType, [pointer])?.[pointer] : undefined;
  return typeof value === "string" && value !== "" ? value : undefined;
}
