/**
 * HTTPS proxy mode: `CONNECT host:443` on the proxy's listeners, for a client configured with
 * an HTTPS proxy (HTTPS_PROXY, Adyen's httpClient.proxy, PayPal's PROXY_ADDRESS). A host a
 * gateway answers for is answered as interception answers it: "200 Connection Established",
 * then payguard's TLS for that name (cert-store.ts) and the same pipeline. A host listed in
 * intercept.passThrough is tunnelled untouched. Anything else is refused: 403, nothing dialled.
 */
import type { IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ProblemCode } from "../errors.js";
import type { Live } from "../generation.js";
import type { Terminate } from "./intercept.js";

const ESTABLISHED = "HTTP/1.1 200 Connection Established\r\n\r\n";

export interface ConnectDeps {
  live: Live;
  /** interception's TLS: a CONNECT to a gateway's host continues as one of its connections */
  terminate: Terminate;
  passThrough: ReadonlySet<string>;
  refuse(socket: Duplex, code: ProblemCode): void;
}

export function connectHandler(deps: ConnectDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const target = authority(req.url ?? "");
    if (!target) return deps.refuse(socket, "invalid_request");
    if (target.port === 443 && deps.live.current.gatewayForHost(target.host)) {
      socket.write(ESTABLISHED);
      if (head.length > 0) socket.unshift(head);
      deps.terminate(socket as Socket);
      return;
    }
    if (deps.passThrough.has(target.host)) return tunnel(socket, target, head, deps);
    deps.refuse(socket, "connect_forbidden");
  };
}

/** `host:port` of a CONNECT request (RFC 9110 §9.3.6), lower-cased; undefined when malformed. */
function authority(target: string): { host: string; port: number } | undefined {
  const match = /^([a-z0-9.-]+):(\d{1,5})$/i.exec(target);
  if (!match) return undefined;
  const port = Number(match[2]);
  return port > 0 && port < 65536 ? { host: (match[1] as string).toLowerCase(), port } : undefined;
}

/** A pass-through host: bytes both ways, untouched, once the host answered. */
function tunnel(client: Duplex, target: { host: string; port: number }, head: Buffer, deps: ConnectDeps): void {
  const upstream: Socket = connect(target.port, target.host);
  upstream.once("connect", () => {
    client.write(ESTABLISHED);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.once("error", () => (upstream.connecting ? deps.refuse(client, "upstream_unreachable") : client.destroy()));
  client.once("error", () => upstream.destroy());
  client.once("close", () => upstream.destroy());
}
