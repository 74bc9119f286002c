/**
 * The only way out: one keep-alive undici Pool to `upstream.url`. payguard never contacts
 * another origin, whatever the request says.
 */

import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { rootCertificates } from "node:tls";
import { Pool } from "undici";
import type { Config } from "../config/schema.js";
import type { ResponseHeaders } from "./headers.js";
import { gatewayLookup } from "./resolve.js";

export interface UpstreamRequest {
  method: string;
  /** path and query as the client sent them; the upstream base path is prepended */
  path: string;
  headers: string[];
  body: Buffer | undefined;
  /** aborts the attempt (attempt timeout, total deadline): undici then destroys the socket */
  signal: AbortSignal;
  /** longest gap between body chunks once the headers arrived */
  bodyTimeoutMs: number;
}

export interface UpstreamResponse {
  status: number;
  headers: ResponseHeaders;
  body: Readable;
}

export interface UpstreamClient {
  /** host[:port] for the Host header */
  readonly host: string;
  /** scheme://host[:port] and the base path, without a trailing slash (a client span's `url.full`) */
  readonly base: string;
  /** the upstream's host name (or address) and port, for a client span's `server.address` / `server.port` */
  readonly server: { address: string; port: number };
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/**
 * Throws away a response body we will not deliver (a retried 503, a client that left).
 * Small bodies are drained so the connection can be reused; anything else destroys it.
 * An undici body emits an error when destroyed: it must find a listener, or the process
 * dies of an unhandled 'error' event.
 */
export function discardBody(body: Readable): void {
  body.on("error", () => {});
  const dump = (body as Readable & { dump?: (opts?: { limit: number }) => Promise<void> }).dump;
  if (typeof dump === "function") dump.call(body, { limit: 64 * 1024 }).catch(() => {});
  else body.destroy();
}

/** upstream.ca: its CAs besides the system's (undici's `ca` replaces the defaults, so both are given). */
function trusted(caFile: string | undefined): { ca?: string[] } {
  return caFile === undefined ? {} : { ca: [...rootCertificates, readFileSync(caFile, "utf8")] };
}

/**
 * `intercepting`: intercept.ca is set, so `resolve: auto` asks DNS (the pod's hostAliases
 * point the gateway's name at payguard).
 */
export function createUpstreamClient(upstream: Config["upstream"], intercepting = false): UpstreamClient {
  const url = new URL(upstream.url);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const viaDns = upstream.resolve === "dns" || (upstream.resolve === "auto" && intercepting);
  const lookup = gatewayLookup({ viaDns, servers: upstream.dnsServers, port });
  const basePath = url.pathname.replace(/\/+$/, "");
  const pool = new Pool(url.origin, {
    connections: upstream.connections,
    keepAliveTimeout: upstream.keepAliveTimeout,
    connect: { timeout: upstream.connectTimeout, lookup, ...trusted(upstream.ca) },
  });

  return {
    host: url.host,
    base: url.origin + basePath,
    server: { address: url.hostname, port },
    async send(request) {
      const response = await pool.request({
        method: request.method as never,
        path: basePath + request.path,
        headers: request.headers,
        body: request.body ?? null,
        signal: request.signal,
        // The attempt timeout (a signal) bounds the wait for headers; these are backstops.
        headersTimeout: 0,
        bodyTimeout: request.bodyTimeoutMs,
      });
      return { status: response.statusCode, headers: response.headers, body: response.body };
    },
    close: () => pool.close(),
  };
}
