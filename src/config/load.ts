/**
 * Loads a config file: YAML → `${VAR}` interpolation → zod validation. Every problem is
 * collected and reported together, each with its path, before anything listens.
 */
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { brandGuard } from "../brand.js";
import { applyProfile, type ProfileResolution } from "./profile.js";
import { type Config, configSchema } from "./schema.js";
import { resolveStoreType, type StoreTypeOrigin } from "./store-keys.js";

/** Thrown when a config cannot be used; `problems` lists every one as "path: message". */
export class ConfigError extends Error {
  readonly isConfigError = true;
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export const isConfigError = brandGuard<ConfigError>("isConfigError");

export type Env = Record<string, string | undefined>;

/** A validated config, the gateway profile whose defaults it took, and how its store type was chosen. */
export interface LoadedConfig {
  config: Config;
  profile: Omit<ProfileResolution, "raw">;
  /** store.type named by the file, inferred from store.url's scheme, or the default */
  storeType: StoreTypeOrigin;
}

/**
 * Reads and validates the file; throws ConfigError listing every problem. Returns the text the
 * config came from too (the reload compares it), and its profile.
 */
export async function readConfigFile(path: string, env: Env = process.env): Promise<LoadedConfig & { text: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return { text, ...loadConfigText(text, env, path) };
}

/** Parses YAML text into a validated Config; throws ConfigError listing every problem. */
export function parseConfig(text: string, env: Env = process.env, source = "<inline>"): Config {
  return loadConfigText(text, env, source).config;
}

/** YAML → `${VAR}` → the gateway profile's defaults under the file's values → validation. */
export function loadConfigText(text: string, env: Env = process.env, source = "<inline>"): LoadedConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // prettyErrors puts "… at line L, column C:" on the first line of each message.
    throw new ConfigError(
      source,
      doc.errors.map((e) => `yaml: ${(e.message.split("\n")[0] ?? "").replace(/:$/, "")}`),
    );
  }
  let raw: unknown;
  try {
    // toJS throws on alias bombs (more than maxAliasCount expansions: "billion laughs").
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError(source, [`yaml: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(source, ["(root): must be a mapping of sections"]);

  const problems: string[] = [];
  const interpolated = interpolate(raw, env, [], problems, new Set()) as Record<string, unknown>;
  const { raw: withDefaults, ...profile } = applyProfile(interpolated);
  const result = configSchema.safeParse(withDefaults, { reportInput: true });
  if (!result.success) problems.push(...result.error.issues.flatMap(formatIssue));
  if (problems.length > 0) throw new ConfigError(source, problems);
  const store = withDefaults.store;
  const storeType = resolveStoreType(typeof store === "object" && store !== null ? store : {})?.from ?? "type";
  return { config: (result as { data: Config }).data, profile, storeType };
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in string values (never in keys). A YAML alias
 * inside its own anchor (`a: &x { b: *x }`) makes a cycle: reported, not followed forever.
 */
function interpolate(value: unknown, env: Env, path: PropertyKey[], problems: string[], ancestors: Set<object>): unknown {
  if (typeof value === "string") {
    return value.replace(VAR, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== "") return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${formatPath(path)}: environment variable ${name} is not set (use \${${name}:-default} for a default)`);
      return "";
    });
  }
  if (value === null || typeof value !== "object") return value;
  if (ancestors.has(value)) {
    problems.push(`${formatPath(path)}: refers to itself (a YAML alias inside its own anchor)`);
    return undefined;
  }
  ancestors.add(value);
  try {
    if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], problems, ancestors));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k], problems, ancestors)]));
  } finally {
    ancestors.delete(value);
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(root)";
  return path.reduce<string>((acc, part) => {
    if (typeof part === "number") return `${acc}[${part}]`;
    // A key that is not a plain name ("", "a b", "x: y") is quoted, so the path stays readable.
    if (!/^[A-Za-z0-9_$-]+$/.test(String(part))) return `${acc}[${JSON.stringify(String(part))}]`;
    return acc === "" ? String(part) : `${acc}.${String(part)}`;
  }, "");
}

/** One zod issue → "path: message" lines, worded for operators rather than programmers. */
function formatIssue(issue: z.core.$ZodIssue): string[] {
  const at = formatPath(issue.path);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`);
    case "too_big":
      return [`${at}: must be ≤ ${String(issue.maximum)}${issue.origin === "array" ? " items" : ""}`];
    case "too_small":
      return [`${at}: must be ≥ ${String(issue.minimum)}${issue.origin === "array" ? " items" : issue.origin === "string" ? " characters" : ""}`];
    case "invalid_type":
      return [issue.input === undefined ? `${at}: is required` : `${at}: must be ${issue.expected === "int" ? "an integer" : `a ${issue.expected}`}`];
    case "invalid_value":
      return [`${at}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`];
    case "invalid_union": {
      // Our unions are string|number for durations/sizes: the wrong-type message says it all.
      return [`${at}: must be a string or a number`];
    }
    default:
      return [`${at}: ${issue.message}`];
  }
}
