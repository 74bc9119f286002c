/**
 * A request target in origin-form (RFC 9112 §3.2.1: `absolute-path [ "?" query ]`): the path
 * ends at the first "?". Pure.
 */
export interface SplitTarget {
  path: string;
  /** the query with its "?", or "" when there is none */
  query: string;
}

export function splitTarget(target: string): SplitTarget {
  const at = target.indexOf("?");
  return at === -1 ? { path: target, query: "" } : { path: target.slice(0, at), query: target.slice(at) };
}
