/**
 * Several gateways in one file. Each `gateways.<name>` entry is merged over the top-level
 * sections as written (its values win; its `routes` replace the top level's), then takes its
 * own gateway profile's defaults and is validated as a whole one-gateway config — so a
 * gateway sees exactly what a file holding only it would. The one-gateway shorthand
 * (`upstream`) is the gateway named "default", whose records keep their unscoped keys.
 */
import { applyProfile, type ProfileResolution } from "./profile.js";

/** The sections a gateway entry may override, merged over the top level's. */
const MERGED = ["idempotency", "resilience", "upstream"] as const;

/** The config a file holding only this gateway would be, as written (before its profile's defaults). */
function gatewayView(top: Record<string, unknown>, entry: Record<string, unknown>): Record<string, unknown> {
  const { gateways: _all, ...view } = top;
  for (const section of MERGED) view[section] = overlay(top[section], entry[section]);
  view.upstream = { ...(view.upstream as object | undefined), url: entry.url };
  if (entry.routes !== undefined) view.routes = entry.routes;
  return view;
}

/** The view with its own gateway profile's defaults under it. */
export function profiledView(top: Record<string, unknown>, entry: Record<string, unknown>): ProfileResolution {
  return applyProfile(gatewayView(top, entry));
}

/** `over` laid on `base`: plain objects merge key by key, anything else in `over` wins. */
function overlay(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = overlay(base[key], value);
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
