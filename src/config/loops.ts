/**
 * Configurations that would send payguard's requests back to payguard: a gateway URL that
 * names one of its own listeners, or (with interception) a gateway whose name the pod's
 * hostAliases point at payguard while it is told to resolve through them. Refused at load;
 * at run time the upstream's lookup guards the same (upstream/resolve.ts).
 */
import type { GatewaySpec } from "./schema.js";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"]);

export function loopProblems(specs: readonly GatewaySpec[], where: (spec: GatewaySpec) => string): string[] {
  const first = specs[0]?.config;
  if (!first) return [];
  const listeners = new Map<number, string>([
    [first.server.port, "server.port"],
    [first.admin.port, "admin.port"],
  ]);
  if (first.intercept.ca) listeners.set(first.intercept.port, "intercept.port");
  for (const spec of specs) if (spec.port) listeners.set(spec.port, `gateways.${spec.name}.port`);
  const intercepted = new Set(first.intercept.ca ? specs.flatMap((s) => s.hosts) : []);
  return specs.flatMap((spec) => {
    const url = new URL(spec.config.upstream.url);
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    const own = LOCAL_HOSTS.has(url.hostname) || url.hostname === first.server.host ? listeners.get(port) : undefined;
    const problems = own ? [`${where(spec)}: ${url.origin} is payguard's own ${own}: every request would loop back to payguard`] : [];
    if (intercepted.has(url.hostname) && spec.config.upstream.resolve === "system")
      problems.push(
        `${where(spec)}: ${url.hostname} is intercepted, and upstream.resolve: system reads /etc/hosts, where hostAliases send it to payguard itself; use auto or dns`,
      );
    return problems;
  });
}
