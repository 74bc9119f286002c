/**
 * PayPal. @paypal/checkout-server-sdk (on @paypal/paypalhttp) rejects any non-2xx answer
 * with an HttpError whose `message` is the body text and `statusCode` the status
 * (paypalhttp lib/paypalhttp/http_client.js); callers parse `JSON.parse(err.message)`, as
 * PayPal's own samples do. The envelope is PayPal's `{name, message, debug_id, details}`
 * (https://developer.paypal.com/api/rest/responses/).
 */
import type { GatewayProfile, Refusal } from "./profile.js";
import { describeRefusal } from "./profile.js";

export const paypal: GatewayProfile = {
  name: "paypal",
  defaults: {
    idempotency: {
      // https://developer.paypal.com/reference/guidelines/idempotency: the key is the
      // `PayPal-Request-Id` header; Orders keys are 1-108 characters
      // (https://developer.paypal.com/api/orders/v2/#orders_create).
      header: "paypal-request-id",
      upstreamKey: { header: "paypal-request-id" },
      maxKeyLength: 108,
      // The SDKs first POST a form-encoded token request with no key
      // (https://developer.paypal.com/api/rest/authentication/): it is not a payment.
      exempt: ["/v1/oauth2/token"],
      // An expired access token is answered 401 before anything is processed; the SDK then
      // fetches a new token and sends the request again (paypal_http_client.js execute).
      notProcessed: [401],
      // https://developer.paypal.com/docs/api/orders/v2/#orders_create (response)
      // Its capture events carry the purchase unit's custom_id, never PayPal-Request-Id.
      ledger: { fields: ["/id", "/status", "/intent"], link: "/purchase_units/0/custom_id" },
    },
    // PayPal names each answer's request in the `Paypal-Debug-Id` header, the id its
    // support asks for (https://developer.paypal.com/api/rest/responses/, "debug_id").
    upstream: { requestId: { header: "paypal-debug-id" } },
  },
  envelope: (refusal) => ({
    members: {
      name: errorName(refusal),
      message: refusal.title,
      debug_id: refusal.requestId,
      details: [{ issue: refusal.code.toUpperCase(), description: describeRefusal(refusal) }],
    },
    headers: { "paypal-debug-id": refusal.requestId },
  }),
};

/** PayPal's error names by status (https://developer.paypal.com/api/rest/responses/). */
function errorName(refusal: Refusal): string {
  switch (refusal.status) {
    case 409:
      return "RESOURCE_CONFLICT";
    case 422:
      return "UNPROCESSABLE_ENTITY";
    case 503:
      return "SERVICE_UNAVAILABLE";
    default:
      return refusal.status < 500 ? "INVALID_REQUEST" : "INTERNAL_SERVER_ERROR";
  }
}
