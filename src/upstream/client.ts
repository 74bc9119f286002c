/**
 * The only way out: one keep-alive undici Pool to `upstream.url`. payguard never contacts
 * another origin, whatever the request says.
 */
import type { Readable } from "node:stream";
import { Pool } from "undici";
import type { Config } from "../config/schema.js";
import { UpstreamTimeoutError } from "./classify.js";
import type { ResponseHeaders } from "./headers.js";

export interface UpstreamRequest {
  method: string;
  /** path and query as the client sent them; the upstream base path is prepended */
  path: string;
  headers: string[];
  body: Buffer | undefined;
  /** deadline for the response headers, then the longest gap between body chunks */
  timeoutMs: number;
}

export interface UpstreamResponse {
  status: number;
  headers: ResponseHeaders;
  body: Readable;
}

export interface UpstreamClient {
  /** host[:port] for the Host header */
  readonly host: string;
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export function createUpstreamClient(upstream: Config["upstream"]): UpstreamClient {
  const url = new URL(upstream.url);
  const basePath = url.pathname.replace(/\/+$/, "");
  const pool = new Pool(url.origin, {
    connections: upstream.connections,
    keepAliveTimeout: upstream.keepAliveTimeout,
    connect: { timeout: upstream.connectTimeout },
  });

  return {
    host: url.host,
    async send(request) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new UpstreamTimeoutError(request.timeoutMs)), request.timeoutMs);
      try {
        const response = await pool.request({
          method: request.method as never,
          path: basePath + request.path,
          headers: request.headers,
          body: request.body ?? null,
          signal: controller.signal,
          headersTimeout: request.timeoutMs,
          bodyTimeout: request.timeoutMs,
        });
        return { status: response.statusCode, headers: response.headers, body: response.body };
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => pool.close(),
  };
}
