/**
 * The interception listener: TLS for the gateways' own host names. A client whose resolver
 * sends api.stripe.com to payguard (a pod's hostAliases) and that trusts payguard's CA gets a
 * certificate for that name (cert-store.ts), and its connection is handed to the proxy's HTTP
 * server tagged with the gateway that name belongs to — the same pipeline as base-URL mode.
 * A name no gateway answers for, or no name at all, gets no certificate: the handshake fails.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:tls";
import type { Config } from "../config/schema.js";
import type { Live } from "../generation.js";
import { tagGateway } from "../listeners.js";
import { CertStore } from "./cert-store.js";

/** The listener for `intercept`, not yet listening; undefined when no CA is configured. */
export async function interceptListener(
  config: Config["intercept"],
  live: Live,
  http: { emit(event: "connection", socket: unknown): boolean },
): Promise<Server | undefined> {
  if (!config.ca) return undefined;
  const hosts = { has: (host: string) => live.current.gatewayForHost(host) !== undefined };
  const ca = { cert: readFileSync(config.ca.certFile, "utf8"), key: readFileSync(config.ca.keyFile, "utf8") };
  const store = await CertStore.open({ ca, hosts, validityMs: config.validity });
  const server = createServer({
    SNICallback: (name, done) => {
      store.contextFor(name).then((context) => (context ? done(null, context) : done(new Error(`no gateway answers for ${name}`))), done);
    },
  });
  server.on("secureConnection", (socket) => {
    const gateway = live.current.gatewayForHost(String(socket.servername));
    if (!gateway) return void socket.destroy();
    tagGateway(socket, gateway.name);
    http.emit("connection", socket);
  });
  return server;
}
