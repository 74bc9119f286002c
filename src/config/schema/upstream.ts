/** The upstream section: the gateway payguard forwards to, its profile, and the connections to it. */
import { z } from "zod";
import { detectGateway, GATEWAYS } from "../../gateways/detect.js";
import { duration, fieldPointer, headerName, int } from "./fields.js";

export const upstreamUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `must be an absolute http(s) URL (got ${JSON.stringify(value)})` });
    return;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") ctx.addIssue({ code: "custom", message: "must use http or https" });
  if (url.username || url.password) ctx.addIssue({ code: "custom", message: "must not carry credentials; the client's own headers are forwarded" });
  if (url.search || url.hash) ctx.addIssue({ code: "custom", message: "must not have a query string or fragment" });
});

export const upstreamSection = z
  .strictObject({
    url: upstreamUrl,
    /** the gateway profile: its defaults (config/profile.ts, gateways/) and its native error envelope */
    gateway: z.enum(["auto", ...GATEWAYS]).default("auto"),
    /** where the gateway names its request id in an answer (logs, records); profiles set it */
    requestId: z.strictObject({ header: z.union([z.literal(false), headerName]).default(false), field: fieldPointer.default(false) }).prefault({}),
    connections: int({ min: 1, max: 10_000 }).default(128),
    connectTimeout: duration({ min: 1 }).default(5_000),
    keepAliveTimeout: duration({ min: 1 }).default(4_000),
    /** a PEM file of CA certificates trusted for this gateway besides the system's (a private gateway, a test gateway) */
    ca: z.string().min(1).optional(),
    /**
     * how its address is found: `system` (getaddrinfo: /etc/hosts, then DNS), `dns` (DNS only,
     * never /etc/hosts), `auto` (dns while intercept.ca is set: the pod's hostAliases send the
     * gateway's name to payguard itself)
     */
    resolve: z.enum(["auto", "system", "dns"]).default("auto"),
    /** name servers for `dns` (host or host:port); empty: the system's */
    dnsServers: z.array(z.string().min(1)).default([]),
  })
  // The loader resolves `auto` (config/profile.ts, with the profile's defaults); a config
  // parsed by the schema alone gets the same answer here, so payguard sees one name.
  .transform((u) => ({ ...u, gateway: u.gateway === "auto" ? detectGateway(u.url) : u.gateway }));
