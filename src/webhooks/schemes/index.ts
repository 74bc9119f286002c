/**
 * The signature schemes by name: how an endpoint's notifications are verified, and which of
 * their headers travel with them to the service (the signature ones; never Authorization or
 * cookies). Each scheme is its own file.
 */
import type { WebhookScheme } from "../../config/webhooks.js";
import { adyenSettlements, verifyAdyen } from "./adyen.js";
import { checkoutSettlement, verifyCheckout } from "./checkout.js";
import { stripeSettlement, verifyStripe } from "./stripe.js";
import type { Settles, Verdict } from "./verdict.js";

export interface Scheme {
  verify(rawBody: Buffer, headers: Readonly<Record<string, string | string[] | undefined>>, secret: string, nowMs: number): Verdict;
  /** the headers (lower case) stored and delivered with an event */
  headers: readonly string[];
  /** the body of the 2xx the gateway gets */
  acknowledgement: string;
  /** what a verified notification's events settle in the ledger, by event id */
  settlements(rawBody: Buffer, eventIds: readonly string[]): Map<string, Settles>;
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
    verify: (body, headers, secret, now) => verifyStripe(body, first(headers["stripe-signature"]), secret, now),
    headers: ["content-type", "stripe-signature", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(stripeSettlement),
  },
  adyen: {
    verify: (body, _headers, secret) => verifyAdyen(body, secret),
    headers: ["content-type", "user-agent"],
    // No longer required (any 2xx will do), and what older integrations still look for.
    acknowledgement: "[accepted]",
    settlements: (body) => adyenSettlements(body),
  },
  checkout: {
    verify: (body, headers, secret) => verifyCheckout(body, first(headers["cko-signature"]), secret),
    headers: ["content-type", "cko-signature", "user-agent"],
    acknowledgement: '{"received":true}',
    settlements: single(checkoutSettlement),
  },
};
