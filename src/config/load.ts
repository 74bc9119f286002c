/**
 * Loads a config file: YAML → `${VAR}` interpolation → zod validation. Every problem is
 * collected and reported together, each with its path, before anything listens.
 */
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { brandGuard } from "../brand.js";
import { profiledView } from "./gateways.js";
import { type Env, interpolate } from "./interpolate.js";
import { formatIssues } from "./issues.js";
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

export { formatPath } from "./issues.js";
export type { Env };

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

  const { value, problems, explained } = interpolate(raw, env);
  const interpolated = value as Record<string, unknown>;
  const profiles: LoadedConfig["profiles"] = {};
  const found: Found = { problems, explained, profiles };
  const specs = "gateways" in interpolated ? namedGateways(interpolated, found) : [oneGateway(interpolated, found)];
  if (problems.length === 0) problems.push(...loopProblems(specs, (g) => (g.scoped ? `gateways.${g.name}.url` : "upstream.url")));
  if (problems.length === 0) problems.push(...webhookProblems(specs));
  if (problems.length > 0 || specs.length === 0) throw new ConfigError(source, problems);
  const first = specs[0] as GatewaySpec;
  const store = interpolated.store;
  const storeType = resolveStoreType(typeof store === "object" && store !== null ? store : {})?.from ?? "type";
  return { config: { ...first.config, gateways: specs }, profile: profiles[first.name] as LoadedConfig["profile"], profiles, storeType };
}

/** What validation collects: every problem, the paths interpolation already explained, each gateway's profile. */
interface Found {
  problems: string[];
  explained: PropertyKey[][];
  profiles: LoadedConfig["profiles"];
}

/** The one-gateway shorthand: the file is the gateway's whole config ("default", keys unscoped). */
function oneGateway(file: Record<string, unknown>, { problems, explained, profiles }: Found): GatewaySpec {
  const { raw: withDefaults, ...profile } = applyProfile(file);
  profiles.default = profile;
  const result = configSchema.safeParse(withDefaults, { reportInput: true });
  if (!result.success) problems.push(...formatIssues(result.error.issues, explained));
  const config = result.data as GatewayConfig;
  return { name: "default", port: undefined, hosts: result.success ? [new URL(config.upstream.url).hostname] : [], scoped: false, config };
}

/**
 * `gateways`: the file is checked as written first (every key at its own path); then each
 * gateway merged over the top level, as a whole config, its problems named by the gateway.
 */
function namedGateways(file: Record<string, unknown>, { problems, explained, profiles }: Found): GatewaySpec[] {
  const written = fileSchema.safeParse(file, { reportInput: true });
  if (!written.success) {
    problems.push(...formatIssues(written.error.issues, explained));
    return [];
  }
  const specs: GatewaySpec[] = [];
  for (const [name, entry] of Object.entries(file.gateways as Record<string, Record<string, unknown>>)) {
    const { raw: view, ...profile } = profiledView(file, entry);
    profiles[name] = profile;
    const result = configSchema.safeParse(view, { reportInput: true });
    if (!result.success) problems.push(...formatIssues(result.error.issues).map((p) => `gateways.${name} (merged over the top level) → ${p}`));
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
