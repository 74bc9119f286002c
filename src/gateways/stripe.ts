/**
 * Stripe. stripe-node decides between success and error by the body's `error` member, not
 * by the status (stripe-node RequestSender: `if (jsonResponse.error) throw`), so every
 * answer payguard makes itself carries Stripe's envelope `{"error": {type, code, message}}`
 * (https://docs.stripe.com/api/errors): the SDK then throws a StripeError subclass chosen by
 * the status, with payguard's code in `err.code`.
 */
import type { GatewayProfile, Refusal } from "./profile.js";
import { describeRefusal, outcomeMember } from "./profile.js";

export const stripe: GatewayProfile = {
  name: "stripe",
  defaults: {
    idempotency: {
      // https://docs.stripe.com/api/idempotent_requests: the `Idempotency-Key` header, keys
      // "up to 255 characters long".
      header: "idempotency-key",
      upstreamKey: { header: "idempotency-key" },
      maxKeyLength: 255,
      // Keys belong to an account: a Connect platform acting for a connected account names
      // it in `Stripe-Account` (https://docs.stripe.com/connect/authentication).
      scope: ["authorization", "stripe-account"],
      // https://docs.stripe.com/idempotency: "We save results only after the execution of an
      // endpoint begins. If incoming parameters fail validation [400] ... no idempotent result
      // is saved"; authentication [401] is checked before that.
      notProcessed: [400, 401],
      // The charge as the ledger keeps it (https://docs.stripe.com/api/charges/object).
      ledger: { fields: ["/id", "/object", "/amount", "/currency", "/status"] },
    },
    resilience: {
      // `Stripe-Should-Retry: true|false` overrides the status (stripe-node RequestSender
      // _shouldRetry; https://github.com/stripe/stripe-node/pull/692).
      retry: { hints: ["stripe-should-retry"] },
    },
    // https://docs.stripe.com/api/request_ids: every answer names its request in `Request-Id`.
    upstream: { requestId: { header: "request-id" } },
  },
  envelope: (refusal) => ({
    // `outcome` inside `error`: stripe-node keeps that object whole as `err.raw` (stripe-python as `e.error`).
    members: { error: { type: errorType(refusal), code: refusal.code, message: describeRefusal(refusal), ...outcomeMember(refusal) } },
    headers: {
      // stripe-node obeys it before looking at the status: false stops its retries at once.
      "stripe-should-retry": String(refusal.retryable),
      // stripe-node reads it into err.requestId: payguard's request id, as in its logs.
      "request-id": refusal.requestId,
    },
  }),
};

/** https://docs.stripe.com/api/errors: api_error, card_error, idempotency_error, invalid_request_error. */
function errorType(refusal: Refusal): string {
  if (refusal.code === "idempotency_key_in_use" || refusal.code === "idempotency_key_reused") return "idempotency_error";
  return refusal.status < 500 ? "invalid_request_error" : "api_error";
}
