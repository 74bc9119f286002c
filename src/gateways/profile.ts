/**
 * A gateway profile: what payguard knows of one gateway from its published docs. It does
 * two things and no more:
 * - it sets config defaults (where the key is, its limits, retry hints, ...), each of which
 *   the config file may override, at the top level and per route (config/profile.ts);
 * - it wraps the answers payguard makes itself in the gateway's own error envelope, so the
 *   gateway's SDK raises its own typed error instead of reading a refusal as a success.
 *
 * Each rule cites the doc it comes from, next to it.
 */
import type { z } from "zod";
import type { configSchema } from "../config/schema.js";
import type { Envelope, Refusal } from "../errors.js";
import type { GatewayName } from "./detect.js";

type RawConfig = z.input<typeof configSchema>;

/** Config defaults in the file's own shape: applied under whatever the file says. */
export interface ProfileDefaults {
  upstream?: Pick<RawConfig["upstream"], "requestId">;
  idempotency?: RawConfig["idempotency"];
  resilience?: RawConfig["resilience"];
}

export type { Envelope, Refusal };

export interface GatewayProfile {
  readonly name: GatewayName;
  readonly defaults: ProfileDefaults;
  envelope(refusal: Refusal): Envelope;
}

/** "<code>: <detail or title>", the readable line most envelopes carry. */
export function describeRefusal(refusal: Refusal): string {
  return `${refusal.code}: ${refusal.detail ?? refusal.title}`;
}

/** `{outcome: "unknown"}` when the payment may have happened, for an envelope that nests its members. */
export function outcomeMember(refusal: Refusal): { outcome?: Refusal["outcome"] } {
  return refusal.outcome ? { outcome: refusal.outcome } : {};
}
