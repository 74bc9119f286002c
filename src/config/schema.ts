/**
 * The configuration contract: every key, its default and its bounds, in one zod schema
 * composed of its sections (./schema/). A file holding only `upstream.url` (or one
 * `gateways.<name>.url`) is a complete
 * config. Unknown keys are errors, so a typo never silently falls back to a default on a
 * payments path. Checks across sections and routes: ./schema/cross-checks.ts.
 */
import { z } from "zod";
import { crossChecks } from "./schema/cross-checks.js";
import type { statusMatcher } from "./schema/fields.js";
import { GATEWAY_NAME, GATEWAY_NAME_RULE, gatewaysSection } from "./schema/gateways.js";
import { idempotencySection } from "./schema/idempotency.js";
import { limitsSection } from "./schema/limits.js";
import { resilienceSection } from "./schema/resilience.js";
import { routeSchema } from "./schema/routes.js";
import { adminSection, interceptSection, logSection, reloadSection, serverSection, shutdownSection } from "./schema/service.js";
import { storeSection } from "./schema/store.js";
import { tracingSection } from "./schema/tracing.js";
import { upstreamSection } from "./schema/upstream.js";
import { webhooksSection } from "./schema/webhooks.js";

const sections = {
  server: serverSection,
  admin: adminSection,
  upstream: upstreamSection,
  limits: limitsSection,
  shutdown: shutdownSection,
  reload: reloadSection,
  log: logSection,
  tracing: tracingSection,
  resilience: resilienceSection("defaults"),
  idempotency: idempotencySection("defaults"),
  store: storeSection,
  routes: z.array(routeSchema).default([]),
  intercept: interceptSection,
  webhooks: webhooksSection,
};

/** One gateway's whole config: the one-gateway file as written, or a gateway of `gateways` merged over the top level. */
export const configSchema = z.strictObject(sections).superRefine(crossChecks, { when: () => true });

/**
 * A file as written: either the one-gateway shorthand (`upstream`) or `gateways`, each of
 * which is then checked merged over the top level as a configSchema (config/gateways.ts).
 */
export const fileSchema = z.strictObject({ ...sections, upstream: upstreamSection.optional(), gateways: gatewaysSection }).superRefine(
  (file, ctx) => {
    const names = Object.keys(file.gateways ?? {});
    for (const name of names) if (!GATEWAY_NAME.test(name)) ctx.addIssue({ code: "custom", path: ["gateways", name], message: GATEWAY_NAME_RULE });
    const named = names.length;
    if (file.upstream !== undefined && named > 0)
      ctx.addIssue({ code: "custom", path: ["upstream"], message: "set either upstream (one gateway) or gateways, not both; move it to gateways.<name>.url" });
    if (file.upstream === undefined && named === 0)
      ctx.addIssue({ code: "custom", path: ["upstream"], message: "set upstream.url, or name each gateway under gateways" });
  },
  { when: () => true },
);

/** One gateway's whole config (config/gateways.ts merges a `gateways` entry over the top level). */
export type GatewayConfig = z.output<typeof configSchema>;

/** One gateway as the process serves it. */
export interface GatewaySpec {
  name: string;
  /** its own plain-HTTP listener; undefined: only server.port (which serves the first gateway) */
  port: number | undefined;
  /** the host names clients reach it by through interception: `hosts`, else its URL's host */
  hosts: readonly string[];
  /** records are scoped by the gateway's name (false only for the one-gateway shorthand, whose keys predate names) */
  scoped: boolean;
  /** the whole config this gateway runs under: the top level with its overrides and its profile's defaults */
  config: GatewayConfig;
}

/** A loaded config: the first gateway's whole config, and every gateway the process serves. */
export type Config = GatewayConfig & { gateways: readonly GatewaySpec[] };
export type ResilienceConfig = Config["resilience"];
export type IdempotencyConfig = Config["idempotency"];
export type StoreConfig = Config["store"];
export type TracingConfig = Config["tracing"];
export type StatusMatcher = z.output<typeof statusMatcher>;
