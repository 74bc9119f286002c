/**
 * The names secrets and card data go by, in the spellings code and headers use: never logged
 * (log.ts), never kept in the outcome ledger (config refuses a field pointer through one). Pure.
 */

/** Member names (lower case, without `-` and `_`) whose values are never logged or kept. */
const SENSITIVE = new Set([
  "authorization",
  "proxyauthorization",
  "cookie",
  "setcookie",
  "xapikey",
  "apikey",
  "password",
  "passwd",
  "secret",
  "clientsecret",
  "token",
  "accesstoken",
  "refreshtoken",
  "idtoken",
  "card",
  "cardnumber",
  "number",
  "pan",
  "cvc",
  "cvv",
  "cvc2",
  "cvv2",
  "securitycode",
]);

/** Also any name ending in one of these: sessionToken, stripeSecret, adminPassword, ... */
const SENSITIVE_SUFFIXES = ["token", "secret", "password", "apikey"];

export function isSensitiveName(name: string): boolean {
  const folded = name.toLowerCase().replace(/[-_]/g, "");
  return SENSITIVE.has(folded) || SENSITIVE_SUFFIXES.some((suffix) => folded.endsWith(suffix));
}
