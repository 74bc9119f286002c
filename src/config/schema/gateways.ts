/**
 * `gateways`: several payment gateways in one process. Each entry is a gateway's URL, its
 * own plain-HTTP port if it has one, and its overrides of the top-level sections — merged
 * over them as written, before the gateway's profile fills in its defaults (config/gateways.ts).
 * The one-gateway form, a top-level `upstream`, stays the shorthand.
 */
import { z } from "zod";
import { GATEWAYS } from "../../gateways/detect.js";
import { duration, fieldPointer, headerName, int, port } from "./fields.js";
import { idempotencySection } from "./idempotency.js";
import { resilienceSection } from "./resilience.js";
import { routeSchema } from "./routes.js";
import { upstreamUrl } from "./upstream.js";

/** A gateway's name: in record scopes, logs, metrics and the admin API. */
export const GATEWAY_NAME = /^[a-z][a-z0-9-]{0,31}$/;
export const GATEWAY_NAME_RULE = "a gateway's name must be 1-32 lowercase letters, digits or '-', starting with a letter";

/** The upstream settings a gateway may set besides its URL (every key optional: the top level's apply). */
const upstreamOverride = z
  .strictObject({
    gateway: z.enum(["auto", ...GATEWAYS]).optional(),
    requestId: z.strictObject({ header: z.union([z.literal(false), headerName]).optional(), field: fieldPointer.optional() }).optional(),
    connections: int({ min: 1, max: 10_000 }).optional(),
    connectTimeout: duration({ min: 1 }).optional(),
    keepAliveTimeout: duration({ min: 1 }).optional(),
    ca: z.string().min(1).optional(),
    resolve: z.enum(["auto", "system", "dns"]).optional(),
    dnsServers: z.array(z.string().min(1)).optional(),
  })
  .optional();

/** A host name a client may reach this gateway by (interception); lower case, no port. */
const hostName = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/,
    "must be a lower-case DNS host name such as api.stripe.com",
  );

export const gatewayEntry = z.strictObject({
  url: upstreamUrl,
  /** a plain-HTTP listener of its own (base-URL mode); server.port serves the first gateway */
  port: port.optional(),
  /** the host names clients reach it by through interception (SNI and Host); default: its URL's host */
  hosts: z.array(hostName).min(1).optional(),
  upstream: upstreamOverride,
  idempotency: idempotencySection("override"),
  resilience: resilienceSection("override"),
  /** the gateway's own routes; unset: the top-level routes */
  routes: z.array(routeSchema).optional(),
});

/** Names are checked beside the entries (schema.ts), so a bad name is a problem at its own path. */
export const gatewaysSection = z.record(z.string(), gatewayEntry).optional();
