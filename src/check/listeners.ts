/** Where payguard listens, as check prints it: the proxy, the TLS interception listener, each gateway's. */
import type { Config, GatewayConfig, GatewaySpec } from "../config/schema.js";
import { formatDuration } from "../config/units.js";

/** The proxy listener, and the interception listener when intercept.ca is set. */
export function describeListeners(config: Config): string[] {
  const { host, port } = config.server;
  const first = config.gateways[0];
  const target = first?.scoped ? `gateway ${first.name} (the first)` : describeUpstream(config);
  return [`  proxy     ${host}:${port} → ${target}`, ...describeIntercept(config)];
}

/** The TLS listener answering for the gateways' host names, its CA by path (never its key), and HTTPS proxy mode. */
function describeIntercept(config: Config): string[] {
  const { intercept, server } = config;
  if (!intercept.ca) return ["  intercept off (no intercept.ca)"];
  const passThrough = intercept.passThrough.length > 0 ? intercept.passThrough.join(" ") : "none";
  return [
    `  intercept TLS ${intercept.host}:${intercept.port} for ${config.gateways.flatMap((g) => g.hosts).join(" ")}; certificates minted from the CA ${intercept.ca.certFile} (key file ${intercept.ca.keyFile}), valid ${formatDuration(intercept.validity)}`,
    `            HTTPS proxy mode on ${server.host}:${server.port}: CONNECT to a gateway's host is intercepted; passed through untouched: ${passThrough}; any other host 403`,
  ];
}

/** A gateway's upstream: URL, connections, and the CA file it trusts besides the system's. */
export function describeUpstream(config: GatewayConfig): string {
  const ca = config.upstream.ca ? `, trusts the CA file ${config.upstream.ca} besides the system's` : "";
  return `${config.upstream.url} (${config.upstream.connections} connections${ca})`;
}

/** Every listener a gateway's requests arrive on. */
export function servedOn(config: Config, gateway: GatewaySpec, index: number): string {
  const { server, intercept } = config;
  const on = [
    ...(index === 0 ? [`${server.host}:${server.port} (server.port)`] : []),
    ...(gateway.port === undefined ? [] : [`${server.host}:${gateway.port} (its own port)`]),
    ...(intercept.ca ? [`TLS ${intercept.host}:${intercept.port} and CONNECT as ${gateway.hosts.join(" ")} (intercept)`] : []),
  ];
  return `            served on ${on.length > 0 ? on.join(", ") : "no listener (not the first gateway, no port of its own, no intercept)"}`;
}
