/**
 * How payguard finds a gateway's address. With interception the pod's hostAliases send the
 * gateway's name to payguard — for payguard's own container too — so then it asks DNS
 * itself (c-ares: `dns.Resolver` never reads /etc/hosts), from the system's name servers or
 * the ones configured. Either way, an address that is this host's own on a port payguard
 * listens on is refused: a gateway that resolves to payguard would loop requests forever.
 */
import { Resolver, lookup as systemLookup } from "node:dns";
import type { LookupFunction } from "node:net";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { listeningPorts } from "../listeners.js";

export interface ResolveOptions {
  /** ask DNS (true) or getaddrinfo, which reads /etc/hosts (false) */
  viaDns: boolean;
  /** name servers (host or host:port); empty: the system's */
  servers: readonly string[];
  /** the gateway URL's port: with a local address, the loop guard's question */
  port: number;
}

type Found = { address: string; family: number };

/** A `lookup` for undici's connect options: DNS or getaddrinfo, then the loop guard. */
export function gatewayLookup(options: ResolveOptions): LookupFunction {
  const resolver = new Resolver();
  if (options.servers.length > 0) resolver.setServers([...options.servers]);
  const find = options.viaDns ? (host: string) => viaDns(resolver, host) : viaSystem;
  return ((hostname: string, lookupOptions: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    find(hostname)
      .then((found) => {
        const looping = found.find((f) => isOwnAddress(f.address) && listeningPorts.has(options.port));
        if (looping) throw loopError(hostname, looping.address, options.port);
        if (lookupOptions.all) callback(null, found);
        else callback(null, found[0]?.address, found[0]?.family);
      })
      .catch((err: unknown) => callback(err));
  }) as LookupFunction;
}

async function viaDns(resolver: Resolver, host: string): Promise<Found[]> {
  const family = isIP(host);
  if (family !== 0) return [{ address: host, family }];
  const v4 = await resolve(resolver, "resolve4", host);
  const v6 = v4.length > 0 ? [] : await resolve(resolver, "resolve6", host);
  const found = [...v4.map((address) => ({ address, family: 4 })), ...v6.map((address) => ({ address, family: 6 }))];
  if (found.length === 0) throw Object.assign(new Error(`DNS has no address for ${host}`), { code: "ENOTFOUND" });
  return found;
}

function resolve(resolver: Resolver, rrtype: "resolve4" | "resolve6", host: string): Promise<string[]> {
  return new Promise((done, fail) =>
    resolver[rrtype](host, (err, addresses) => {
      if (!err) return done(addresses);
      if (err.code === "ENODATA" || err.code === "ENOTFOUND") return done([]);
      fail(err);
    }),
  );
}

function viaSystem(host: string): Promise<Found[]> {
  return new Promise((done, fail) => systemLookup(host, { all: true }, (err, addresses) => (err ? fail(err) : done(addresses))));
}

/** A loopback, unspecified or this host's own interface address. */
function isOwnAddress(address: string): boolean {
  if (address.startsWith("127.") || address === "::1" || address === "0.0.0.0" || address === "::" || address === "::ffff:127.0.0.1") return true;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === address));
}

function loopError(host: string, address: string, port: number): Error {
  return Object.assign(new Error(`${host} resolves to ${address}:${port}, a port payguard itself listens on: refusing a loop`), { code: "ELOOP_PAYGUARD" });
}
