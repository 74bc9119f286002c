/**
 * One canonical form of a request path, for route matching and idempotency scope: the same
 * resource must never get two records (or two routes) because of spelling. RFC 3986 §6.2.2:
 * percent-encoded unreserved characters are decoded, remaining escapes upper-cased; and,
 * as gateways treat them alike, repeated slashes collapse and a trailing slash is dropped.
 * The request is still forwarded exactly as the client sent it. Pure.
 */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

export function normalizePath(path: string): string {
  let out = path.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
  out = out.replace(/\/{2,}/g, "/");
  if (out.length > 1 && out.endsWith("/")) out = out.slice(0, -1);
  return out;
}
