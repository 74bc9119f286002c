import type { IncomingMessage } from "node:http";
import type { MiddlewareHandler } from "hono";
import { ProxyError } from "../errors.js";
import type { AppDeps, StageEnv } from "./context.js";
import { splitTarget } from "./target.js";

/**
 * payguard is not an open proxy, and it forwards only requests whose meaning is beyond doubt:
 *
 * - only origin-form targets ("/path?query") are accepted, so no request can name another
 *   host (CONNECT never reaches here, see server.ts);
 * - HTTP/1.1 needs exactly one `Host` (RFC 9112 §3.2) — it never chooses where a request
 *   goes, but a proxy in front of payguard may have read the other one;
 * - `Transfer-Encoding` may only be `chunked`: Node removes the chunking but would pass
 *   any other coding (`gzip, chunked`) on undecoded under a recomputed Content-Length
 *   (RFC 9112 §6.1 allows refusing codings a server does not implement); and in an HTTP/1.0
 *   request it means faulty framing (RFC 9112 §6.1): a front proxy may have framed it
 *   differently, so it is refused, not guessed at. Node itself already refuses CL with TE,
 *   duplicate Content-Length, obs-fold, bare LF and bad chunk sizes (server.ts);
 * - the path rule, see {@link pathProblem};
 * - more than `limits.maxHeaders` header fields get 431 (Node's own cap would drop the
 *   extra ones silently, so server.ts lifts it);
 * - while draining, new requests are refused before anything is sent upstream.
 *
 * Every refusal but the draining one closes the connection, and any request already
 * pipelined behind a refused one on that connection is refused too: after bytes payguard
 * would not forward, it trusts nothing more from that socket.
 */
export function guard(deps: Pick<AppDeps, "lifecycle" | "live">): MiddlewareHandler<StageEnv<object>> {
  return function guard(c, next) {
    const { incoming } = c.env;
    const refusal = refuse(incoming, deps.live.current.config.limits.maxHeaders);
    if (refusal) {
      distrusted.add(incoming.socket);
      throw refusal;
    }
    if (deps.lifecycle.draining) throw new ProxyError("shutting_down", undefined, { connection: "close" });
    return next();
  };
}

/** Sockets that carried a refused request: whatever else they carry is refused too. */
const distrusted = new WeakSet<object>();

const CLOSE = { connection: "close" } as const;

function refuse(incoming: IncomingMessage, maxHeaders: number): ProxyError | undefined {
  if (distrusted.has(incoming.socket)) return new ProxyError("invalid_request", "an earlier request on this connection was refused", CLOSE);
  const target = incoming.url ?? "";
  if (target[0] !== "/" || target.startsWith("//")) return new ProxyError("absolute_form_rejected", undefined, CLOSE);
  if (incoming.rawHeaders.length > 2 * maxHeaders) return new ProxyError("headers_too_large", `more than ${maxHeaders} header fields`, CLOSE);

  let hosts = 0;
  let transferEncoding = false;
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
    const name = (incoming.rawHeaders[i] as string).toLowerCase();
    if (name === "host") hosts++;
    else if (name === "transfer-encoding") {
      if (transferEncoding || (incoming.rawHeaders[i + 1] as string).trim().toLowerCase() !== "chunked")
        return new ProxyError("invalid_request", "Transfer-Encoding other than a single chunked", CLOSE);
      transferEncoding = true;
    }
  }
  const http11 = incoming.httpVersion !== "1.0";
  if (hosts > 1) return new ProxyError("invalid_request", "more than one Host header", CLOSE);
  if (hosts === 0 && http11) return new ProxyError("invalid_request", "an HTTP/1.1 request needs a Host header", CLOSE);
  if (transferEncoding && !http11) return new ProxyError("invalid_request", "Transfer-Encoding in an HTTP/1.0 request", CLOSE);

  const problem = pathProblem(splitTarget(target).path);
  if (problem) return new ProxyError("path_rejected", problem, CLOSE);
  return undefined;
}

/**
 * The path rule. payguard forwards the path exactly as sent, after `upstream.url`'s base path
 * (`/base` + `/v1/charges`), so the path must not be able to climb out of that base in any
 * spelling the gateway — or a server behind it — might decode. A path is refused (400
 * `path_rejected`) when any of its segments, percent-decoded repeatedly (`%252e` is `%2e` is
 * `.`), is
 * - a dot segment: `.` or `..` (also before a `;`, which Tomcat-style servers strip: `..;`);
 * - or contains a slash (`%2F`), a backslash (raw or `%5C`), a NUL (`%00`) or any other
 *   control character.
 * Payment APIs never use any of these. Dots inside a segment (`report.v2.csv`, `cus_.x`,
 * `...`) are ordinary characters and pass untouched. RFC 3986 §3.3 and §5.2.4 (dot segments).
 * Returns why the path is refused, or undefined. Pure.
 */
export function pathProblem(path: string): string | undefined {
  for (const raw of path.split("/")) {
    if (raw === "") continue;
    const segment = decodeFully(raw);
    if (segment === undefined) return "too many levels of percent-encoding";
    if (/[\\/]/.test(segment)) return "encoded slash or backslash in the path";
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
    if (/[\x00-\x1f\x7f]/.test(segment)) return "control character in the path";
    const name = segment.split(";")[0];
    if (name === "." || name === "..") return "dot segment in the path";
  }
  return undefined;
}

const ESCAPE = /%([0-9A-Fa-f]{2})/g;

/** Percent-decodes (byte by byte, as latin1) until nothing changes; undefined past 4 levels. */
function decodeFully(segment: string): string | undefined {
  let current = segment;
  for (let level = 0; level < 4; level++) {
    const next = current.replace(ESCAPE, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    if (next === current) return current;
    current = next;
  }
  return /%[0-9A-Fa-f]{2}/.test(current) ? undefined : current;
}
