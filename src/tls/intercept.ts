/**
 * The interception listener: TLS for the gateways' own host names. A client whose resolver
 * sends api.stripe.com to payguard (a pod's hostAliases) and that trusts payguard's CA gets a
 * certificate for that name (cert-store.ts), and its connection is handed to the proxy's HTTP
 * server tagged with the gateway that name belongs to — the same pipeline as base-URL mode.
 * A name no gateway answers for, or no name at all, gets no certificate: the handshake fails.
 * The HTTPS proxy mode (connect.ts) hands its tunnels to the same `terminate`.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { Config } from "../config/schema.js";
import type { Live } from "../generation.js";
import { tagGateway } from "../listeners.js";
import { CertStore } from "./cert-store.js";

type Http = { emit(event: "connection", socket: unknown): boolean };

/** Terminates payguard's TLS on a client connection, then hands it to the HTTP server. */
export type Terminate = (socket: Socket) => void;

export interface Interception {
  /** the listener on intercept.port, not yet listening */
  listener: Server;
  terminate: Terminate;
}

/** Interception for `intercept`; undefined when no CA is configured. */
export async function interception(config: Config["intercept"], live: Live, http: Http): Promise<Interception | undefined> {
  if (!config.ca) return undefined;
  const hosts = { has: (host: string) => live.current.gatewayForHost(host) !== undefined };
  const ca = { cert: readFileSync(config.ca.certFile, "utf8"), key: readFileSync(config.ca.keyFile, "utf8") };
  const store = await CertStore.open({ ca, hosts, validityMs: config.validity });
  const terminate = terminator(store, live, http);
  return { listener: createServer(terminate), terminate };
}

function terminator(store: CertStore, live: Live, http: Http): Terminate {
  return (socket) => {
    // A CONNECT tunnel comes from the HTTP server, whose sockets allow half-open: a client
    // that ends (a refused certificate, a process gone) would leave it open for ever.
    socket.allowHalfOpen = false;
    const tls = new TLSSocket(socket, {
      isServer: true,
      SNICallback: (name, done) => {
        store.contextFor(name).then((context) => (context ? done(null, context) : done(new Error(`no gateway answers for ${name}`))), done);
      },
    });
    // Whatever ends the TLS side (a refused certificate, a handshake for an unknown name)
    // ends the connection under it.
    tls.once("close", () => socket.destroy());
    tls.once("error", () => tls.destroy());
    tls.once("end", () => tls.destroy());
    tls.once("secure", () => {
      const gateway = live.current.gatewayForHost(String(tls.servername));
      if (!gateway) return void tls.destroy();
      tagGateway(tls, gateway.name, true);
      http.emit("connection", tls);
    });
  };
}
