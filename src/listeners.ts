/**
 * Which gateway a connection is for, when it came in on a gateway's own listener
 * (`gateways.<name>.port`) or was intercepted for one of its host names: the listener tags the
 * socket as it accepts it, the route stage reads the tag. A connection on server.port carries
 * none and goes to the first gateway.
 */
import { createServer, type Server } from "node:net";

export interface ConnectionTag {
  gateway: string;
  /** true when the gateway was picked by the TLS name (interception): the Host header must agree */
  byName: boolean;
}

const gatewayOf = new WeakMap<object, ConnectionTag>();

/** Every port this process listens on (server.ts adds them): the upstream loop guard reads it. */
export const listeningPorts = new Set<number>();

/** Marks a connection as one for `gateway` (its own listener, or the name it was intercepted for). */
export function tagGateway(socket: object, gateway: string, byName = false): void {
  gatewayOf.set(socket, { gateway, byName });
}

/** The gateway the connection's listener serves; undefined on server.port. */
export function listenerGateway(socket: object): ConnectionTag | undefined {
  return gatewayOf.get(socket);
}

/**
 * A listener for one gateway: it accepts connections, tags them, and hands them to the proxy's
 * HTTP server — the same app, parser limits and draining as server.port.
 */
export function gatewayListener(gateway: string, http: { emit(event: "connection", socket: unknown): boolean }): Server {
  return createServer((socket) => {
    tagGateway(socket, gateway);
    http.emit("connection", socket);
  });
}
