/**
 * Loads a config file: YAML → `${VAR}` interpolation → zod validation. Every problem is
 * collected and reported together, each with its path, before anything listens.
 */
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { brandGuard } from "../brand.js";
import { profiledView } from "./gateways.js";
import { loopProblems } from "./loops.js";
import { applyProfile, type ProfileResolution } from "./profile.js";
import { type Config, configSchema, fileSchema, type GatewayConfig, type GatewaySpec } from "./schema.js";
import { resolveStoreType, type StoreTypeOrigin } from "./store-keys.js";
import { webhookProblems } from "./webhooks.js";

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
  /** each gateway's profile, by gateway name */
  profiles: Record<string, Omit<ProfileResolution, "raw">>;
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
  const profiles: LoadedConfig["profiles"] = {};
  const specs = "gateways" in interpolated ? namedGateways(interpolated, problems, profiles) : [oneGateway(interpolated, problems, profiles)];
  if (problems.length === 0) problems.push(...loopProblems(specs, (g) => (g.scoped ? `gateways.${g.name}.url` : "upstream.url")));
  if (problems.length === 0) problems.push(...webhookProblems(specs));
  if (problems.length > 0 || specs.length === 0) throw new ConfigError(source, problems);
  const first = specs[0] as GatewaySpec;
  const store = interpolated.store;
  const storeType = resolveStoreType(typeof store === "object" && store !== null ? store : {})?.from ?? "type";
  return { config: { ...first.config, gateways: specs }, profile: profiles[first.name] as LoadedConfig["profile"], profiles, storeType };
}

/** The one-gateway shorthand: the file is the gateway's whole config ("default", keys unscoped). */
function oneGateway(file: Record<string, unknown>, problems: string[], profiles: LoadedConfig["profiles"]): GatewaySpec {
  const { raw: withDefaults, ...profile } = applyProfile(file);
  profiles.default = profile;
  const result = configSchema.safeParse(withDefaults, { reportInput: true });
  if (!result.success) problems.push(...result.error.issues.flatMap(formatIssue));
  const config = result.data as GatewayConfig;
  return { name: "default", port: undefined, hosts: result.success ? [new URL(config.upstream.url).hostname] : [], scoped: false, config };
}

/**
 * `gateways`: the file is checked as written first (every key at its own path); then each
 * gateway merged over the top level, as a whole config, its problems named by the gateway.
 */
function namedGateways(file: Record<string, unknown>, problems: string[], profiles: LoadedConfig["profiles"]): GatewaySpec[] {
  const written = fileSchema.safeParse(file, { reportInput: true });
  if (!written.success) {
    problems.push(...written.error.issues.flatMap(formatIssue));
    return [];
  }
  const specs: GatewaySpec[] = [];
  for (const [name, entry] of Object.entries(file.gateways as Record<string, Record<string, unknown>>)) {
    const { raw: view, ...profile } = profiledView(file, entry);
    profiles[name] = profile;
    const result = configSchema.safeParse(view, { reportInput: true });
    if (!result.success) problems.push(...result.error.issues.flatMap(formatIssue).map((p) => `gateways.${name} (merged over the top level) → ${p}`));
    else {
      const { port, hosts } = written.data.gateways?.[name] ?? {};
      specs.push({ name, port, hosts: hosts ?? [new URL(result.data.upstream.url).hostname], scoped: true, config: result.data });
    }
  }
  problems.push(...portProblems(specs, written.data), ...(written.data.intercept.ca ? hostProblems(specs) : []));
  return specs;
}

/** With interception, a host name is one gateway's: the gateway is picked by it. */
function hostProblems(specs: readonly GatewaySpec[]): string[] {
  const owner = new Map<string, string>();
  const problems: string[] = [];
  for (const { name, hosts } of specs)
    for (const host of hosts) {
      const other = owner.get(host);
      if (other) problems.push(`gateways.${name}.hosts: ${host} is already gateways.${other}'s (set hosts to tell them apart)`);
      owner.set(host, name);
    }
  return problems;
}

/** Every listener its own port: a gateway's, the proxy's and the admin API's. */
function portProblems(specs: readonly GatewaySpec[], file: { server: { port: number }; admin: { port: number } }): string[] {
  const taken = new Map<number, string>([
    [file.server.port, "server.port"],
    [file.admin.port, "admin.port"],
  ]);
  const problems: string[] = [];
  for (const { name, port } of specs) {
    if (port === undefined || port === 0) continue;
    const other = taken.get(port);
    if (other) problems.push(`gateways.${name}.port: ${port} is already ${other}`);
    taken.set(port, `gateways.${name}.port`);
  }
  return problems;
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
