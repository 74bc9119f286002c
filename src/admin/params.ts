/** Query parameters every admin listing takes. */
import { ProxyError } from "../errors.js";

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** `?include=body`: whether the caller asks for stored bodies; 403 where the config does not allow them (admin.api.revealBodies). */
export function wantsBody(include: string | undefined, allowed: boolean): boolean {
  if (include === undefined) return false;
  if (include !== "body") throw new ProxyError("admin_invalid_request", "include may only be body");
  if (!allowed) throw new ProxyError("admin_forbidden", "stored bodies are not shown unless admin.api.revealBodies is true");
  return true;
}

/** `limit`: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent. */
export function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const limit = Number(raw);
  if (!/^\d+$/.test(raw) || limit < 1 || limit > MAX_LIMIT) throw new ProxyError("admin_invalid_request", `limit must be 1 to ${MAX_LIMIT}`);
  return limit;
}

/** A time parameter: an ISO 8601 time or epoch milliseconds; `fallback` when absent, else required. */
export function parseTime(name: string, raw: string | undefined, fallback?: number): number {
  if (raw === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ProxyError("admin_invalid_request", `give ${name}: an ISO 8601 time or epoch milliseconds`);
  }
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new ProxyError("admin_invalid_request", `${name}: not an ISO 8601 time or epoch milliseconds`);
  return ms;
}
