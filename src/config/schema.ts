/**
 * The configuration contract: every key, its default and its bounds, in one zod schema
 * composed of its sections (./schema/). A file holding only `upstream.url` is a complete
 * config. Unknown keys are errors, so a typo never silently falls back to a default on a
 * payments path. Checks across sections and routes: ./schema/cross-checks.ts.
 */
import { z } from "zod";
import { crossChecks } from "./schema/cross-checks.js";
import type { statusMatcher } from "./schema/fields.js";
import { idempotencySection } from "./schema/idempotency.js";
import { limitsSection } from "./schema/limits.js";
import { resilienceSection } from "./schema/resilience.js";
import { routeSchema } from "./schema/routes.js";
import { adminSection, logSection, reloadSection, serverSection, shutdownSection } from "./schema/service.js";
import { storeSection } from "./schema/store.js";
import { upstreamSection } from "./schema/upstream.js";

export const configSchema = z
  .strictObject({
    server: serverSection,
    admin: adminSection,
    upstream: upstreamSection,
    limits: limitsSection,
    shutdown: shutdownSection,
    reload: reloadSection,
    log: logSection,
    resilience: resilienceSection("defaults"),
    idempotency: idempotencySection("defaults"),
    store: storeSection,
    routes: z.array(routeSchema).default([]),
  })
  .superRefine(crossChecks, { when: () => true });

export type Config = z.output<typeof configSchema>;
export type ResilienceConfig = Config["resilience"];
export type IdempotencyConfig = Config["idempotency"];
export type StoreConfig = Config["store"];
export type StatusMatcher = z.output<typeof statusMatcher>;
