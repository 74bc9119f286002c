/** The idempotency section: how a key is found, fingerprinted, held, replayed, completed and sent on. */
import { z } from "zod";
import { parsePointer } from "../../idempotency/pointer.js";
import { isSensitiveName } from "../../sensitive.js";
import { duration, fieldPointer, flag, headerName, httpMethod, int, jsonPointer, pathPattern, size, statusMatcher } from "./fields.js";
import { type Mode, opt, section } from "./overridable.js";

/**
 * A response field the outcome ledger keeps: a JSON pointer to a member, never through a
 * member named like a secret or a card field (the ledger must hold neither).
 */
const ledgerField = z
  .string({ error: 'must be a JSON pointer to a member, such as "/id"' })
  .regex(/^(\/([^~/]|~[01])*)+$/, 'must be a JSON pointer to a member, such as "/id"')
  .refine((pointer) => !parsePointer(pointer).some(isSensitiveName), { message: "names a secret or card field: the ledger never keeps those" });

export function idempotencySection<M extends Mode>(mode: M) {
  return section(mode, {
    header: opt(mode, headerName, "idempotency-key"),
    /** where in a JSON body the key is, when the header is absent (Square: "/idempotency_key") */
    bodyField: opt(mode, fieldPointer, false),
    /** longest key accepted (the gateway's own limit: Stripe 255, Adyen 64) */
    maxKeyLength: opt(mode, int({ min: 1, max: 255 }), 255),
    methods: opt(mode, z.array(httpMethod).min(1), ["POST", "PATCH"]),
    mode: opt(mode, z.enum(["required", "optional", "off"]), "required"),
    /** paths whose requests are never keyed, whatever `mode` says (PayPal's OAuth token endpoint) */
    exempt: opt(mode, z.array(pathPattern), []),
    ttl: opt(mode, duration({ min: 1000 }), 24 * 3_600_000),
    lease: opt(mode, duration({ min: 100 }), 10_000),
    scope: opt(mode, z.array(headerName), ["authorization"]),
    /** a keyed request must carry every scope header (400 idempotency_scope_missing), never pooled as "absent" */
    requireScope: opt(mode, flag, false),
    fingerprint: section(mode, {
      body: opt(mode, z.enum(["canonical-json", "bytes"]), "canonical-json"),
      /**
       * JSON bodies larger than this are fingerprinted as bytes: canonicalising 1 MB takes
       * 50–80 ms of the event loop that every other request waits on
       */
      canonicalMaxBytes: opt(mode, size({ min: 1 }), 64 * 1024),
      ignoreFields: opt(mode, z.array(jsonPointer), []),
      headers: opt(mode, z.array(headerName), []),
    }),
    inFlight: section(mode, {
      strategy: opt(mode, z.enum(["wait", "reject"]), "wait"),
      maxWait: opt(mode, duration(), 10_000),
    }),
    replay: opt(mode, z.array(statusMatcher).min(1), ["2xx", "4xx"]),
    /** statuses by which this gateway promises it did nothing: released, never stored */
    notProcessed: opt(mode, z.array(statusMatcher), []),
    maxResponseSize: opt(mode, size({ min: 1 }), 1024 * 1024),
    completion: completionSection(mode),
    /** the outcome ledger (sqlite, postgres stores) */
    ledger: section(mode, {
      /** which fields of the gateway's answer it keeps */
      fields: opt(mode, z.array(ledgerField).max(16), ["/id"]),
      /**
       * what the gateway's webhook events name a payment by, kept as the row's link: "key",
       * the key payguard forwarded (Stripe's request.idempotency_key), or a field of the
       * request's JSON body (Adyen's and Checkout.com's "/reference", Square's "/reference_id")
       */
      link: opt(mode, z.union([z.literal("key"), ledgerField]), "key"),
    }),
    /**
     * how the key reaches the gateway, so its own dedupe covers payguard's retries: a header
     * payguard sets on every attempt; "body" (the key is the body field, forwarded byte for
     * byte); or false (the gateway has no idempotency: a POST is never re-sent)
     */
    upstreamKey: opt(
      mode,
      z.union([z.literal(false), z.literal("body"), z.strictObject({ header: headerName }, { error: "must be a mapping { header: <header name> }" })]),
      { header: "idempotency-key" },
    ),
  });
}

/**
 * Completion of unknown outcomes: when every attempt of a request sent with an upstream key
 * ended without an answer, the owning replica keeps the key in flight and re-sends the same
 * bytes in the background, with capped backoff, for at most maxDuration (0: never).
 */
function completionSection<M extends Mode>(mode: M) {
  return section(mode, {
    maxDuration: opt(mode, duration({ max: 24 * 3_600_000 }), 600_000),
    initialDelay: opt(mode, duration({ min: 10 }), 1_000),
    maxDelay: opt(mode, duration({ min: 10 }), 30_000),
    /** completions running at once in this process; past it a key is settled as without completion */
    maxConcurrent: opt(mode, int({ min: 1, max: 100_000 }), 1_000),
  });
}
