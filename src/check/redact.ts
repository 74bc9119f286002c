/** URLs as check and the startup lines print them: never a password, a query (which can carry an API key) or a token. Pure. */

/** A Redis, PostgreSQL, collector or service URL without its password or query. */
export function redactUrl(url: string): string {
  const bare = url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(":") ? `${auth.split(":")[0]}:***` : "***"}@`);
  return bare.replace(/\?.+$/, "?***");
}

/** host:port of a store URL (nothing else of it: no user, no password, no database); "?" when it does not parse. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host || "?";
  } catch {
    return "?";
  }
}
