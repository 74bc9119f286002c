/**
 * Applies the gateway profile's defaults to a config as written, before validation: every
 * value the file sets wins, at the top level; routes inherit the result as they inherit any
 * top-level value, and override it the same way. Pure.
 */
import { detectGateway, GATEWAYS, type GatewayName } from "../gateways/detect.js";
import { profileOf } from "../gateways/index.js";

/** One default the profile set because the file did not: "idempotency.maxKeyLength" = 64. */
export interface AppliedDefault {
  path: string;
  value: unknown;
}

export interface ProfileResolution {
  gateway: GatewayName;
  /** how the gateway was chosen: named in the file, or `auto` from the upstream host */
  chosenBy: "config" | "auto";
  applied: AppliedDefault[];
  /** the config with the profile's defaults under the file's values */
  raw: Record<string, unknown>;
}

export function applyProfile(raw: Record<string, unknown>): ProfileResolution {
  const upstream = isObject(raw.upstream) ? raw.upstream : {};
  const named = upstream.gateway;
  const chosenBy = named === undefined || named === "auto" ? "auto" : "config";
  // An unknown name is the schema's to report; with no profile to apply, generic it is.
  const gateway: GatewayName =
    chosenBy === "auto"
      ? detectGateway(typeof upstream.url === "string" ? upstream.url : "")
      : GATEWAYS.includes(named as never)
        ? (named as GatewayName)
        : "generic";
  const applied: AppliedDefault[] = [];
  const merged = under(profileOf(gateway).defaults, raw, [], applied) as Record<string, unknown>;
  // The one place the name is decided: the schema then validates it, and never guesses again.
  const known = chosenBy === "auto" || GATEWAYS.includes(named as never);
  if (isObject(merged.upstream) && known) merged.upstream = { ...merged.upstream, gateway };
  return { gateway, chosenBy, applied, raw: merged };
}

/** `value` with `defaults` filled in where it has nothing; records each default used. */
function under(defaults: unknown, value: unknown, path: string[], applied: AppliedDefault[]): unknown {
  if (value === undefined) {
    collect(defaults, path, applied);
    return defaults;
  }
  if (!isObject(defaults) || !isObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [key, fallback] of Object.entries(defaults)) out[key] = under(fallback, value[key], [...path, key], applied);
  return out;
}

function collect(value: unknown, path: string[], applied: AppliedDefault[]): void {
  if (isObject(value)) for (const [key, child] of Object.entries(value)) collect(child, [...path, key], applied);
  else applied.push({ path: path.join("."), value });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
