/**
 * The body of POST /admin/records/{id}/resolve, checked before anything is touched:
 * `{"action":"release","reason":"…","operator":"…"}` or
 * `{"action":"complete","reason":"…","operator":"…","response":{"status":201,"headers":{…},"body":"…"}}`
 * (`bodyBase64` for binary). The reason and the operator go to the ledger row and the audit line. The operator's response is what repeats of the payment will be
 * replayed, so it must be writable as an HTTP answer: a final status, valid header names and
 * values, none of the headers a replay sets itself. Pure.
 */
import { z } from "zod";
import { ProxyError } from "../errors.js";
import type { StoredResponse } from "../store/types.js";

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 §5.5 field values as Node writes them: tab, visible ASCII, obs-text; no CR/LF. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Set per delivery (framing, hop-by-hop, replay marker), never stored. */
const NOT_STORABLE = new Set([
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
  "date",
  "age",
  "idempotent-replayed",
]);

const headerValue = z.string().regex(HEADER_VALUE, "must be a header value without control characters");
const response = z
  .strictObject({
    status: z.number().int().min(200).max(599),
    headers: z.record(z.string(), z.union([headerValue, z.array(headerValue).min(1)])).default({}),
    body: z.string().optional(),
    bodyBase64: z
      .string()
      .refine((b) => Buffer.from(b, "base64").toString("base64") === b, "must be base64")
      .optional(),
  })
  .superRefine((r, ctx) => {
    if (r.body !== undefined && r.bodyBase64 !== undefined) ctx.addIssue({ code: "custom", message: "give body or bodyBase64, not both" });
    for (const name of Object.keys(r.headers)) {
      if (!HEADER_NAME.test(name)) ctx.addIssue({ code: "custom", path: ["headers", name], message: "is not a header name" });
      else if (NOT_STORABLE.has(name.toLowerCase())) ctx.addIssue({ code: "custom", path: ["headers", name], message: "is set by each delivery, not stored" });
    }
  });
/** A required text, with one message whether it is missing, not a string, or blank. */
const said = (what: string, max: number) =>
  z
    .string({ error: `is required: ${what}` })
    .trim()
    .min(1, `is required: ${what}`)
    .max(max, `must be at most ${max} characters`);
const reason = said("say why (it goes to the ledger and the audit log)", 500);
const operator = said("say who decides (a name or an e-mail address; it goes to the ledger and the audit log)", 200);

const schema = z.discriminatedUnion(
  "action",
  [z.strictObject({ action: z.literal("release"), reason, operator }), z.strictObject({ action: z.literal("complete"), reason, operator, response })],
  { error: 'is required: "release" (the gateway did not take the payment) or "complete" (it did: give its response)' },
);

export type Resolution =
  | { action: "release"; reason: string; operator: string }
  | { action: "complete"; reason: string; operator: string; response: StoredResponse };

/** The resolution in `text`, or 400 admin_invalid_request naming every problem. */
export function parseResolution(text: string, maxBodyBytes: number): Resolution {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ProxyError("admin_invalid_request", "the body must be JSON");
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ProxyError("admin_invalid_request", parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  }
  const value = parsed.data;
  if (value.action === "release") return value;
  const { reason, operator } = value;
  const { status, headers, body, bodyBase64 } = value.response;
  const bytes = bodyBase64 !== undefined ? Buffer.from(bodyBase64, "base64") : Buffer.from(body ?? "", "utf8");
  if (bytes.length > maxBodyBytes)
    throw new ProxyError("admin_invalid_request", `response.body is ${bytes.length} bytes, over idempotency.maxResponseSize (${maxBodyBytes})`);
  const lower = Object.fromEntries(Object.entries(headers).map(([name, v]) => [name.toLowerCase(), v]));
  return { action: "complete", reason, operator, response: { status, headers: lower, body: bytes } };
}
