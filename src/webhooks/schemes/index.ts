/**
 * The signature schemes by name: how an endpoint's notifications are verified, which of
 * their headers travel with them to the service (the signature ones; never Authorization or
 * cookies), and which signature is made afresh for each delivery (Stripe's, timestamped;
 * Square's, bound to the URL; PayPal's cannot be: it is PayPal's RSA key). Each scheme is
 * its own file.
 */
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { WebhookEndpoint } from "../../config/schema/webhooks.js";
import type { WebhookScheme } from "../../config/webhooks.js";
import { adyenSettlements, verifyAdyen } from "./adyen.js";
import { checkoutSettlement, verifyCheckout } from "./checkout.js";
import { PAYPAL_HEADERS, paypalSettlement, pinnedKeys, TransmissionLog, verifyPaypal } from "./paypal.js";
import { SQUARE_SIGNATURE, signSquare, squareSettlement, verifySquare } from "./square.js";
import { signStripe, stripeSettlement, verifyStripe } from "./stripe.js";
import type { Settles, Verdict } from "./verdict.js";

export interface Scheme {
  verify(rawBody: Buffer, headers: Readonly<Record<string, string | string[] | undefined>>, endpoint: WebhookEndpoint, nowMs: number): Verdict;
  /** the headers (lower case) stored and delivered with an event */
  headers: readonly string[];
  /** the body of the 2xx the gateway gets */
  acknowledgement: string;
  /** what a verified notification's events settle in the ledger, by event id */
  settlements(rawBody: Buffer, eventIds: readonly string[]): Map<string, Settles>;
  /** loads what verification needs, at startup (PayPal's pinned certificates); throws naming the problem */
  prepare?(endpoint: WebhookEndpoint): void;
  /** the signature headers a delivery carries instead of the stored ones; absent: the stored ones verify */
  resign?(rawBody: Buffer, endpoint: WebhookEndpoint, nowMs: number): Record<string, string>;
}

/** The endpoint's secret (config/webhooks.ts refuses an endpoint of these schemes without one). */
const secretOf = (endpoint: WebhookEndpoint): string => endpoint.secret ?? "";

/** PayPal transmissions this process accepted recently (a reused id with other bytes is refused). */
const transmissions = new TransmissionLog();

/** PayPal's pinned keys per certificate file, loaded at startup (prepare). */
const pinned = new Map<string, KeyObject[]>();

function pinnedFor(endpoint: WebhookEndpoint): KeyObject[] {
  const file = endpoint.certificate ?? "";
  let keys = pinned.get(file);
  if (!keys) {
    try {
      keys = pinnedKeys(readFileSync(file, "utf8"));
    } catch (err) {
      throw new Error(`webhooks: ${endpoint.path}: certificate ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    pinned.set(file, keys);
  }
  return keys;
}

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** A scheme whose notifications carry one event: what it settles, under that event's id. */
const single =
  (settle: (body: Buffer) => Settles | undefined) =>
  (body: Buffer, [id]: readonly string[]): Map<string, Settles> => {
    const settles = settle(body);
    return new Map(settles && id ? [[id, settles]] : []);
  };

export const SCHEMES: Record<WebhookScheme, Scheme> = {
  stripe: {
    verify: (body, headers, endpoint, now) => verifyStripe(body, first(headers["stripe-signature"]), secretOf(endpoint), now),
    headers: ["content-type", "stripe-signature", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(stripeSettlement),
    // The service checks the timestamp (300 s): a late delivery needs a fresh one.
    resign: (body, endpoint, now) => ({ "stripe-signature": signStripe(body, secretOf(endpoint), now) }),
  },
  adyen: {
    verify: (body, _headers, endpoint) => verifyAdyen(body, secretOf(endpoint)),
    headers: ["content-type", "user-agent"],
    // No longer required (any 2xx will do), and what older integrations still look for.
    acknowledgement: "[accepted]",
    settlements: (body) => adyenSettlements(body),
  },
  checkout: {
    verify: (body, headers, endpoint) => verifyCheckout(body, first(headers["cko-signature"]), secretOf(endpoint)),
    headers: ["content-type", "cko-signature", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(checkoutSettlement),
  },
  square: {
    // config/webhooks.ts refuses a Square endpoint without its notificationUrl.
    verify: (body, headers, endpoint) => verifySquare(body, first(headers[SQUARE_SIGNATURE]), secretOf(endpoint), endpoint.notificationUrl ?? ""),
    headers: ["content-type", SQUARE_SIGNATURE, "square-environment", "square-initial-delivery-timestamp", "square-retry-number", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(squareSettlement),
    // The URL is signed: sign the service's own (no timestamp, so age is no matter).
    resign: (body, endpoint) => ({
      [SQUARE_SIGNATURE]: signSquare(body, secretOf(endpoint), endpoint.serviceNotificationUrl ?? endpoint.notificationUrl ?? ""),
    }),
  },
  paypal: {
    verify: (body, headers, endpoint, now) => verifyPaypal(body, headers, endpoint.webhookId ?? "", pinnedFor(endpoint), now, transmissions),
    // Forwarded as they came: PayPal signs with its own key, so the service verifies these
    // (with payguard's webhook id, or through PayPal's verify API).
    headers: ["content-type", ...PAYPAL_HEADERS, "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(paypalSettlement),
    prepare: (endpoint) => void pinnedFor(endpoint),
  },
};
