/** Each gateway as check prints it: its upstream, its listeners, its profile's defaults, its routes. */
import type { LoadedConfig } from "../config/load.js";
import type { Config, GatewaySpec } from "../config/schema.js";
import { describeUpstream, servedOn } from "./listeners.js";
import { describeRoutes } from "./route.js";
import { mayHoldPreProfileRecords } from "./store.js";

type Profile = LoadedConfig["profile"];

/** The one gateway of the `upstream:` shorthand, or every `gateways.<name>` with its own heading. */
export function describeGateways({ config, profile, profiles }: LoadedConfig): string[] {
  const first = config.gateways[0];
  if (first && !first.scoped) return describeGateway(config, first, 0, profile);
  return config.gateways.flatMap((gateway, i) => [
    `  gateway ${gateway.name}: ${describeUpstream(gateway.config)}`,
    ...describeGateway(config, gateway, i, profiles[gateway.name] ?? profile).map((l) => `  ${l}`),
  ]);
}

function describeGateway(config: Config, gateway: GatewaySpec, index: number, profile: Profile): string[] {
  const chosen = profile.chosenBy === "auto" ? "upstream.gateway auto: picked from the host of upstream.url" : "named by upstream.gateway";
  return [
    `  gateway   ${profile.gateway} (${chosen})`,
    servedOn(config, gateway, index),
    ...describeProfile(profile, config.store),
    ...describeRoutes(gateway.config, gateway.scoped ? `${gateway.name}/` : ""),
  ];
}

function describeProfile(profile: Profile, store: Config["store"]): string[] {
  if (profile.applied.length === 0) return ["            the profile set no defaults"];
  return [
    "            defaults the profile set (the file did not):",
    ...profile.applied.map((d) => `              ${d.path} = ${JSON.stringify(d.value)}`),
    ...upgradeNotes(profile.applied, store).map((note) => `            upgrading: ${note} (docs/gateways.md, "Upgrading")`),
  ];
}

/**
 * What these defaults change for a deployment that ran payguard before gateway profiles. Other
 * record ids matter only where such records can be (store.ts), so a fresh config gets no
 * note on them. Whether clients used an older payguard no file tells (its memory store is
 * gone, a file without a store section now means SQLite), so that note says "if".
 */
function upgradeNotes(applied: Profile["applied"], store: Config["store"]): string[] {
  const set = (path: string) => applied.find((d) => d.path === path);
  const notes: string[] = [];
  if (set("idempotency.scope") && mayHoldPreProfileRecords(store))
    notes.push("if this Redis holds records from a payguard before gateway profiles, they have other ids now (the scope is not the generic one)");
  const header = set("idempotency.header");
  if (header && header.value !== "idempotency-key")
    notes.push(`if clients used a payguard from before gateway profiles, they sent Idempotency-Key: they must send their key in ${String(header.value)} now`);
  return notes;
}
