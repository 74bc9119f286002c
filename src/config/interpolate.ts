/** `${VAR}` and `${VAR:-default}` in a parsed config's string values, replaced from the environment. Pure. */
import { formatPath } from "./issues.js";

export type Env = Record<string, string | undefined>;

export interface Interpolated {
  value: unknown;
  /** "path: message" for each variable that is unset with no default, and each self-referring alias */
  problems: string[];
  /** where those problems are: the values there are not the file's, so nothing else is said about them */
  explained: PropertyKey[][];
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in string values (never in keys); an empty variable
 * counts as unset. A YAML alias inside its own anchor (`a: &x { b: *x }`) makes a cycle:
 * reported, not followed forever.
 */
export function interpolate(value: unknown, env: Env): Interpolated {
  const out: Interpolated = { value: undefined, problems: [], explained: [] };
  out.value = walk(value, env, [], out, new Set());
  return out;
}

function walk(value: unknown, env: Env, path: PropertyKey[], out: Interpolated, ancestors: Set<object>): unknown {
  if (typeof value === "string") return substitute(value, env, path, out);
  if (value === null || typeof value !== "object") return value;
  if (ancestors.has(value)) {
    report(out, path, "refers to itself (a YAML alias inside its own anchor)");
    return undefined;
  }
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return value.map((v, i) => walk(v, env, [...path, i], out, ancestors));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, env, [...path, k], out, ancestors)]));
  } finally {
    ancestors.delete(value);
  }
}

/** One line per value, however many of its variables are unset. */
function substitute(text: string, env: Env, path: PropertyKey[], out: Interpolated): string {
  const unset: string[] = [];
  const replaced = text.replace(VAR, (_match, name: string, fallback: string | undefined) => {
    const found = env[name];
    if (found !== undefined && found !== "") return found;
    if (fallback !== undefined) return fallback;
    unset.push(name);
    return "";
  });
  if (unset.length === 1) report(out, path, `environment variable ${unset[0]} is not set (use \${${unset[0]}:-default} for a default)`);
  if (unset.length > 1) report(out, path, `environment variables ${unset.join(", ")} are not set (use \${NAME:-default} for a default)`);
  return replaced;
}

function report(out: Interpolated, path: PropertyKey[], message: string): void {
  out.problems.push(`${formatPath(path)}: ${message}`);
  out.explained.push(path);
}
