/**
 * Square. The square SDK raises SquareError for any non-2xx answer and copies the body's
 * `errors` array as it is (errors/SquareError.js); the envelope is Square's
 * `{errors: [{category, code, detail, field}]}`
 * (https://developer.squareup.com/docs/build-basics/handling-errors). Square's key is not a
 * header: it is the JSON body field `idempotency_key` of every create call
 * (https://developer.squareup.com/docs/build-basics/common-api-patterns/idempotency).
 */
import type { GatewayProfile, Refusal } from "./profile.js";
import { describeRefusal, outcomeMember } from "./profile.js";

export const square: GatewayProfile = {
  name: "square",
  defaults: {
    idempotency: {
      bodyField: "/idempotency_key",
      // The body goes to Square byte for byte, key included: Square's own dedupe covers
      // payguard's retries.
      upstreamKey: "body",
      // https://developer.squareup.com/reference/square/payments-api/create-payment (response)
      // Its events carry the payment's reference_id, never the idempotency_key.
      ledger: {
        fields: ["/payment/id", "/payment/status", "/payment/amount_money/amount", "/payment/amount_money/currency", "/payment/order_id"],
        link: "/reference_id",
      },
    },
    // Square sends no request id header; the payment's id is what its support and its events
    // (data.id) name.
    upstream: { requestId: { field: "/payment/id" } },
  },
  envelope: (refusal) => ({
    // The SDK copies `errors` as they are (SquareError.errors): `outcome` rides in the item.
    members: { errors: [{ ...categoryAndCode(refusal), detail: describeRefusal(refusal), ...fieldOf(refusal), ...outcomeMember(refusal) }] },
    headers: {},
  }),
};

/** Square's ErrorCategory and ErrorCode values (https://developer.squareup.com/reference/square/enums/ErrorCode). */
function categoryAndCode(refusal: Refusal): { category: string; code: string } {
  const invalid = (code: string) => ({ category: "INVALID_REQUEST_ERROR", code });
  const api = (code: string) => ({ category: "API_ERROR", code });
  switch (refusal.code) {
    case "idempotency_key_missing":
      return invalid("MISSING_REQUIRED_PARAMETER");
    case "idempotency_key_invalid":
      return invalid("INVALID_VALUE");
    case "idempotency_key_in_use":
      return invalid("CONFLICT");
    case "idempotency_key_reused":
      return invalid("IDEMPOTENCY_KEY_REUSED");
    case "body_too_large":
      return invalid("REQUEST_ENTITY_TOO_LARGE");
    default:
      break;
  }
  if (refusal.status < 500) return invalid("BAD_REQUEST");
  if (refusal.status === 503) return api("SERVICE_UNAVAILABLE");
  if (refusal.status === 504) return api("GATEWAY_TIMEOUT");
  if (refusal.status === 502) return api("BAD_GATEWAY");
  return api("INTERNAL_SERVER_ERROR");
}

function fieldOf(refusal: Refusal): { field?: string } {
  return refusal.code === "idempotency_key_missing" || refusal.code === "idempotency_key_invalid" ? { field: "idempotency_key" } : {};
}
