/**
 * What a gateway's later event may name a payment by, kept on its ledger rows (the `link`
 * column): the idempotency key the gateway saw (Stripe's events carry it as
 * `request.idempotency_key`), else the request's own reference where the gateway's events
 * echo it (Adyen's `merchantReference`, Checkout.com's `reference`: the request body's
 * `/reference`). Pure.
 */
import type { GatewayName } from "../gateways/detect.js";
import { pickFields } from "./fields.js";

const REFERENCE: Partial<Record<GatewayName, string>> = { adyen: "/reference", checkout: "/reference" };

export function linkOf(gateway: GatewayName, upstreamKey: string | undefined, body: Buffer | undefined, contentType: string | undefined): string | undefined {
  if (upstreamKey !== undefined) return upstreamKey;
  const pointer = REFERENCE[gateway];
  const value = pointer && body ? pickFields(body, contentType, [pointer])?.[pointer] : undefined;
  return typeof value === "string" && value !== "" ? value : undefined;
}
