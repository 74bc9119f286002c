/**
 * `webhooks`: the gateways' own event notifications, received on a listener of their own (the
 * one exposed to the internet; the proxy's stays the application's), verified with each
 * gateway's scheme, and stored before they are acknowledged (docs/webhooks.md). Which
 * gateways and stores may have them is checked with the gateways (config/webhooks.ts).
 */
import { z } from "zod";
import { duration, int, isHttpUrl, port, size } from "./fields.js";

/** The signature schemes payguard verifies (src/webhooks/schemes/). */
export const WEBHOOK_SCHEMES = ["stripe", "adyen", "checkout", "square", "paypal"] as const;

const endpoint = z.strictObject({
  /** the gateway whose events these are: a `gateways.<name>` ("default" with the `upstream:` shorthand) */
  gateway: z.string().min(1),
  /** how they are signed; default: the gateway's profile's */
  scheme: z.enum(WEBHOOK_SCHEMES).optional(),
  /** where the gateway posts them on the webhook listener (payguard's public URL + path) */
  path: z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, "must be an absolute path of URL-safe characters"),
  /** the gateway's signing secret (Stripe's whsec_…, Adyen's hex HMAC key): through ${VAR}, never written here; PayPal has none */
  secret: z.string().min(1).optional(),
  /** the service's own endpoint, where payguard delivers them */
  deliverTo: z.string().refine(isHttpUrl, "must be an absolute http(s) URL"),
  /** Square signs this URL: exactly as registered on the subscription (payguard's public URL) */
  notificationUrl: z.string().refine(isHttpUrl, "must be an absolute http(s) URL").optional(),
  /** Square: the URL the service verifies with (its own notificationUrl); default notificationUrl */
  serviceNotificationUrl: z.string().refine(isHttpUrl, "must be an absolute http(s) URL").optional(),
  /** PayPal: the id of the webhook subscription whose URL is payguard's (part of what PayPal signs) */
  webhookId: z.string().min(1).optional(),
  /** PayPal: a PEM file of the signing certificate(s) pinned (never fetched from PAYPAL-CERT-URL); several while PayPal rotates */
  certificate: z.string().min(1).optional(),
});

export type WebhookEndpoint = z.output<typeof endpoint>;

/** How stored events reach the service (webhooks/deliver.ts). */
const delivery = z
  .strictObject({
    /** one attempt: connect, send, and the service's answer */
    timeout: duration({ min: 100 }).default(10_000),
    /** attempts in flight per deliverTo, per replica */
    concurrency: int({ min: 1, max: 256 }).default(4),
    /** the wait before attempt n+1: between half and all of min(max, initial × 2ⁿ) */
    backoff: z.strictObject({ initial: duration({ min: 10 }).default(1000), max: duration({ min: 10 }).default(600_000) }).prefault({}),
    /** an event still not delivered this long after it was received is dead-lettered */
    maxAge: duration({ min: 1000 }).default(3 * 24 * 3600_000),
    /** how long a replica holds an event it is delivering; must outlast an attempt */
    lease: duration({ min: 1000 }).default(60_000),
    /** how often each replica looks for due events (a new event is also delivered at once) */
    poll: duration({ min: 10 }).default(1000),
  })
  .refine((d) => d.lease >= 2 * d.timeout, { message: "must be at least twice delivery.timeout (a lease outlives its attempt)", path: ["lease"] })
  .prefault({});

export const webhooksSection = z
  .strictObject({
    host: z.string().min(1).default("0.0.0.0"),
    port: port.default(8081),
    /** the largest notification accepted (bytes); larger is 413, nothing stored */
    maxBodySize: size({ min: 1024 }).default(1024 * 1024),
    endpoints: z.array(endpoint).default([]),
    delivery,
    /**
     * an event that names no payment yet (it came before the payment's ledger row: payguard
     * still waiting on the gateway) is matched again every `every`, for `window` (0: never)
     */
    lateMatch: z.strictObject({ window: duration().default(3_600_000), every: duration({ min: 10 }).default(1000) }).prefault({}),
  })
  .prefault({});
