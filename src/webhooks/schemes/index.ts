/**
 * The signature schemes by name: how an endpoint's notifications are verified, which of
 * their headers travel with them to the service (the signature ones; never Authorization or
 * cookies), and which signature is made afresh for each delivery (Stripe's, timestamped;
 * Square's, bound to the URL). Each scheme is its own file.
 */
import type { WebhookEndpoint } from "../../config/schema/webhooks.js";
import type { WebhookScheme } from "../../config/webhooks.js";
import { adyenSettlements, verifyAdyen } from "./adyen.js";
import { checkoutSettlement, verifyCheckout } from "./checkout.js";
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
  /** the signature headers a delivery carries instead of the stored ones; absent: the stored ones verify */
  resign?(rawBody: Buffer, endpoint: WebhookEndpoint, nowMs: number): Record<string, string>;
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
    verify: (body, headers, endpoint, now) => verifyStripe(body, first(headers["stripe-signature"]), endpoint.secret, now),
    headers: ["content-type", "stripe-signature", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(stripeSettlement),
    // The service checks the timestamp (300 s): a late delivery needs a fresh one.
    resign: (body, endpoint, now) => ({ "stripe-signature": signStripe(body, endpoint.secret, now) }),
  },
  adyen: {
    verify: (body, _headers, endpoint) => verifyAdyen(body, endpoint.secret),
    headers: ["content-type", "user-agent"],
    // No longer required (any 2xx will do), and what older integrations still look for.
    acknowledgement: "[accepted]",
    settlements: (body) => adyenSettlements(body),
  },
  checkout: {
    verify: (body, headers, endpoint) => verifyCheckout(body, first(headers["cko-signature"]), endpoint.secret),
    headers: ["content-type", "cko-signature", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(checkoutSettlement),
  },
  square: {
    // config/webhooks.ts refuses a Square endpoint without its notificationUrl.
    verify: (body, headers, endpoint) => verifySquare(body, first(headers[SQUARE_SIGNATURE]), endpoint.secret, endpoint.notificationUrl ?? ""),
    headers: ["content-type", SQUARE_SIGNATURE, "square-environment", "square-initial-delivery-timestamp", "square-retry-number", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(squareSettlement),
    // The URL is signed: sign the service's own (no timestamp, so age is no matter).
    resign: (body, endpoint) => ({ [SQUARE_SIGNATURE]: signSquare(body, endpoint.secret, endpoint.serviceNotificationUrl ?? endpoint.notificationUrl ?? "") }),
  },
};
