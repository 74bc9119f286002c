/**
 * Checkout.com. checkout-sdk-node throws one error class per status with the JSON body in
 * `err.body` (services/errors.js determineError), and Checkout's envelope is
 * `{request_id, error_type, error_codes}` (https://checkout.com/docs/resources/codes/error-codes).
 * One gap the SDK leaves: for a 502 it throws `new BadGateway()` and drops the body, so a
 * caller would see "Bad gateway" without payguard's code or `outcome` — the one answer where
 * a payment may have happened. Under this profile payguard's own 502s are answered 500
 * instead: the SDK's ApiError keeps the body (`err.body.outcome`, `err.body.error_codes`).
 */
import type { GatewayProfile } from "./profile.js";

export const checkout: GatewayProfile = {
  name: "checkout",
  defaults: {
    idempotency: {
      // https://www.checkout.com/docs/developer-resources/api/idempotency: the
      // `Cko-Idempotency-Key` header. "If the original request could not be processed [a
      // validation error, 422], an idempotent result will not be saved."
      header: "cko-idempotency-key",
      upstreamKey: { header: "cko-idempotency-key" },
      notProcessed: [422],
      // https://api-reference.checkout.com/#operation/requestAPaymentOrPayout (response)
      // Its events carry the request's reference as data.reference, never the key.
      ledger: { fields: ["/id", "/status", "/amount", "/currency", "/reference"], link: "/reference" },
    },
    // Every answer names its request in `Cko-Request-Id` (checkout-sdk-node config.js
    // REQUEST_ID_HEADER), the id Checkout's support asks for.
    upstream: { requestId: { header: "cko-request-id" } },
  },
  envelope: (refusal) => ({
    members: {
      request_id: refusal.requestId,
      // Checkout documents `request_invalid` for refused requests; it publishes no type for a
      // 5xx, so payguard's own stands there.
      error_type: refusal.status < 500 ? "request_invalid" : "payguard_error",
      error_codes: [refusal.code],
    },
    headers: { "cko-request-id": refusal.requestId },
    ...(refusal.status === 502 ? { status: 500 } : {}),
  }),
};
