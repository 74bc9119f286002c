/**
 * An Adyen ClientInterface that sends the SDK's calls to payguard over plain http: Adyen's
 * documented custom HTTP client hook (`client.httpClient`), since the stock client always
 * uses https and fixed Adyen hosts. Only createRequest is replaced; request() (auth, content
 * type, timeout) and doRequest() (error parsing into HttpClientException) are the SDK's own.
 */
import http from "node:http";
import { createRequire } from "node:module";
// The SDK is CommonJS whose named exports Node's ESM loader cannot see: use the default.
import adyen from "@adyen/api-library";
import type { IRequest } from "@adyen/api-library/lib/src/typings/requestOptions.js";

const { HttpURLConnectionClient } = adyen;
type ClientInterface = InstanceType<typeof HttpURLConnectionClient>;
const { LIB_NAME, LIB_VERSION } = (
  createRequire(import.meta.url)("@adyen/api-library/lib/src/constants/libraryConstants.js") as { default: Record<string, string> }
).default as { LIB_NAME: string; LIB_VERSION: string };

// createRequest is private in the SDK's typings; the base is re-typed so it can be replaced.
const Base = HttpURLConnectionClient as unknown as new () => Pick<ClientInterface, "request" | "proxy"> & {
  createRequest(endpoint: string, options: IRequest.Options, applicationName?: string): http.ClientRequest;
};

export class PayguardAdyenClient extends Base {
  constructor(private readonly baseUrl: string) {
    super();
  }

  /** The SDK's createRequest (same headers), to `baseUrl` + the SDK's path, over http. */
  override createRequest(endpoint: string, options: IRequest.Options, applicationName?: string): http.ClientRequest {
    const url = new URL(this.baseUrl.replace(/\/$/, "") + new URL(endpoint).pathname);
    const headers = { ...(options.headers ?? {}) } as Record<string, string>;
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
    const lib = `${LIB_NAME}/${LIB_VERSION}`;
    Object.assign(headers, {
      "Cache-Control": "no-cache",
      "Accept-Charset": "utf-8",
      "User-Agent": applicationName ? `${applicationName} ${lib}` : lib,
      "adyen-library-name": LIB_NAME,
      "adyen-library-version": LIB_VERSION,
    });
    const query = options.params ? `?${new URLSearchParams(options.params as Record<string, string>)}` : "";
    const request = http.request({ hostname: url.hostname, port: url.port, path: url.pathname + query, method: options.method ?? "POST", headers });
    if (options.timeout) request.setTimeout(options.timeout);
    return request;
  }
}
