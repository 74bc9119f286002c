/**
 * Adyen. @adyen/api-library raises HttpClientException for a non-2xx answer whose JSON body
 * has a `status` member, with `errorCode` and the whole body (`apiError`) readable
 * (lib/src/httpClient/httpURLConnectionClient.js). Adyen's envelope is
 * `{status, errorCode, message, errorType}` (https://docs.adyen.com/development-resources/error-codes);
 * `status` is RFC 9457's own member, the same value.
 */
import type { GatewayProfile } from "./profile.js";
import { describeRefusal } from "./profile.js";

export const adyen: GatewayProfile = {
  name: "adyen",
  defaults: {
    idempotency: {
      // https://docs.adyen.com/development-resources/api-idempotency: the `Idempotency-Key`
      // header, "a maximum of 64 characters", kept per company account.
      header: "idempotency-key",
      upstreamKey: { header: "idempotency-key" },
      maxKeyLength: 64,
      // Adyen authenticates with X-API-Key, or with Basic auth for a web service user
      // (https://docs.adyen.com/development-resources/api-credentials): either names the tenant.
      scope: ["x-api-key", "authorization"],
      // https://docs.adyen.com/api-explorer/Checkout/latest/post/payments (response)
      // Its events carry the request's reference as merchantReference, never the key.
      ledger: { fields: ["/pspReference", "/resultCode", "/amount/value", "/amount/currency", "/merchantReference"], link: "/reference" },
    },
    resilience: {
      // Same page, "Transient errors": `Transient-Error: true` means the request can be
      // retried with the same idempotency key; false (or no header): do not retry.
      retry: { hints: ["transient-error"] },
    },
    // Every payment response names Adyen's reference for it in `pspReference`
    // (https://docs.adyen.com/api-explorer/Checkout/latest/post/payments).
    upstream: { requestId: { field: "/pspReference" } },
  },
  envelope: (refusal) => ({
    members: {
      errorCode: refusal.code,
      message: describeRefusal(refusal),
      // Adyen's errorType values: validation, security, configuration, internal.
      errorType: refusal.status < 500 ? "validation" : "internal",
    },
    headers: { "transient-error": String(refusal.retryable) },
  }),
};
