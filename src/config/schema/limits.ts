/** The limits section: what one request, and all of them together, may hold of payguard. */
import { z } from "zod";
import { duration, int, size } from "./fields.js";

/**
 * Cross-field checks run even when a sibling field is invalid, so one pass reports every
 * problem; they apply only once both compared fields parsed.
 */
function bothNumbers(a: string, b: string) {
  return (payload: { value: unknown }) => {
    const v = payload.value as Record<string, unknown> | undefined;
    return typeof v?.[a] === "number" && typeof v?.[b] === "number";
  };
}

export const limitsSection = z
  .strictObject({
    maxBodySize: size({ min: 1 }).default(1024 * 1024),
    /**
     * request body bytes held in memory by all requests together (as they arrive, never
     * as declared); past it new bodies get 503 overloaded
     */
    maxBufferedBodyBytes: size({ min: 1 }).default(64 * 1024 * 1024),
    /** all request header lines together (Node's parser answers 431 past it) */
    maxHeaderSize: size({ min: 1024 }).default(16 * 1024),
    /** request header fields */
    maxHeaders: int({ min: 1, max: 10_000 }).default(100),
    headersTimeout: duration({ min: 1 }).default(10_000),
    requestTimeout: duration({ min: 1 }).default(60_000),
  })
  .refine((l) => !(l.headersTimeout > l.requestTimeout), {
    message: "must be ≤ limits.requestTimeout",
    path: ["headersTimeout"],
    when: bothNumbers("headersTimeout", "requestTimeout"),
  })
  .refine((l) => !(l.maxBodySize > l.maxBufferedBodyBytes), {
    message: "must be ≥ limits.maxBodySize (else a body of that size could never be read)",
    path: ["maxBufferedBodyBytes"],
    when: bothNumbers("maxBodySize", "maxBufferedBodyBytes"),
  })
  .prefault({});
