/** URLs as check and the startup lines print them: never a password, a query (which can carry an API key) or a token. Pure. */

/**
 * A Redis, PostgreSQL, collector or service URL without its password or query, parsed as a
 * URL (a password may hold "@" or "/"); "?" when it does not parse, rather than risk printing it.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "?";
  }
  if (parsed.password) parsed.password = "***";
  else if (parsed.username) parsed.username = "***";
  if (parsed.search) parsed.search = "?***";
  return parsed.toString();
}

/** host:port of a store URL (nothing else of it: no user, no password, no database); "?" when it does not parse. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host || "?";
  } catch {
    return "?";
  }
}
