/**
 * Puts payguard on sockets: builds the dependencies, the proxy and admin listeners, and
 * answers what never reaches the app (CONNECT, unparseable requests) as problem+json.
 */

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { AddressInfo, Server as NetServer, Socket } from "node:net";
import { hostname } from "node:os";
import type { Duplex } from "node:stream";
import { createAdaptorServer, getRequestListener } from "@hono/node-server";
import { buildAdminApp } from "./admin.js";
import { buildApp } from "./app.js";
import { runningFields } from "./check/listening.js";
import type { Config } from "./config/schema.js";
import { type ProblemCode, ProxyError, problemResponse } from "./errors.js";
import { buildGeneration, Live, sameJson } from "./generation.js";
import { Settlements } from "./idempotency/settlements.js";
import { drain } from "./lifecycle.js";
import { gatewayListener, listeningPorts } from "./listeners.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics, type Metrics } from "./metrics/registry.js";
import { bufferedBodyBytes } from "./pipeline/body-budget.js";
import type { AppDeps } from "./pipeline/context.js";
import { createStore } from "./store/create.js";
import type { ReadyStore } from "./store/shared/store.js";
import type { WebhookInbox } from "./store/types.js";
import type { Interception, Terminate } from "./tls/intercept.js";
import { loadTracing } from "./tracing/load.js";
import { Deliverer } from "./webhooks/deliver.js";
import { LateMatcher } from "./webhooks/match.js";
import { buildWebhookApp } from "./webhooks/receive.js";

export interface Payguard {
  readonly deps: AppDeps;
  /** http://host:port of the proxy listener */
  readonly url: string;
  /** http://host:port of the admin listener */
  readonly adminUrl: string;
  readonly proxyServer: Server;
  readonly adminServer: Server;
  /** http://host:port of each gateway's own listener (`gateways.<name>.port`), by gateway name */
  readonly gatewayUrls: Readonly<Record<string, string>>;
  /** the interception listener's port, when `intercept.ca` is set */
  readonly interceptPort?: number;
  /** http://host:port of the webhook listener, when `webhooks.endpoints` are set */
  readonly webhookUrl?: string;
  /**
   * Serves new requests under `config` from now on (requests in flight keep theirs).
   * Settings that only a restart applies (listeners, store, ...) are listed, not applied.
   */
  reload(config: Config): ReloadOutcome;
  /** Graceful shutdown: readiness off → readinessDelay → drain → close. */
  shutdown(): Promise<{ drained: boolean }>;
}

export interface ReloadOutcome {
  result: "applied" | "unchanged";
  /** the generation serving new requests */
  generation: number;
  /** config paths whose new values wait for a restart */
  restartRequired: string[];
}

/** Settings bound to sockets or to the store at start: a reload reports them, a restart applies them. */
const RESTART_ONLY: ReadonlyArray<(c: Config) => [string, unknown]> = [
  (c) => ["server", c.server],
  (c) => ["admin.host", c.admin.host],
  (c) => ["admin.port", c.admin.port],
  (c) => ["store", c.store],
  (c) => ["reload", c.reload],
  (c) => ["limits.headersTimeout", c.limits.headersTimeout],
  (c) => ["limits.requestTimeout", c.limits.requestTimeout],
  (c) => ["limits.maxHeaderSize", c.limits.maxHeaderSize],
  // each gateway's own listener (a gateway a reload removes answers 421 gateway_not_served until then)
  (c) => ["gateways.*.port", c.gateways.map((g) => [g.name, g.port])],
  (c) => ["intercept", c.intercept],
  (c) => ["webhooks", c.webhooks],
  (c) => ["tracing", c.tracing],
];

export function restartRequired(running: Config, next: Config): string[] {
  return RESTART_ONLY.map((pick) => [pick(running), pick(next)] as const)
    .filter(([[, a], [, b]]) => !sameJson(a, b))
    .map(([[path]]) => path);
}

export interface StartOptions {
  logger?: Logger;
  metrics?: Metrics;
  /** the idempotency store to use instead of the one `config.store` describes (tests) */
  store?: ReadyStore;
}

export async function startPayguard(config: Config, options: StartOptions = {}): Promise<Payguard> {
  const deps = await buildDeps(config, options);
  const proxyServer = createProxyServer(config, deps);
  const adminServer = createAdminServer(config, deps);
  const gatewayListeners = config.gateways.flatMap((g) =>
    g.port === undefined ? [] : [{ name: g.name, port: g.port, server: gatewayListener(g.name, proxyServer) }],
  );
  const interception = await interceptionFor(config, deps, proxyServer);
  if (interception) await acceptConnect(proxyServer, interception.terminate, config, deps);
  const intercept = interception?.listener;
  const deliverer = delivererFor(config, deps);
  const inbox = inboxFor(config, deps);
  const matcher = inbox && new LateMatcher(config, inbox, deps.logger);
  const webhooks = webhookServerFor(config, deps, deliverer);
  await Promise.all([
    listen(proxyServer, config.server),
    listen(adminServer, config.admin),
    ...gatewayListeners.map((g) => listen(g.server, { host: config.server.host, port: g.port })),
    ...(intercept ? [listen(intercept, config.intercept)] : []),
    ...(webhooks ? [listen(webhooks, config.webhooks)] : []),
  ]);
  const gatewayUrls = Object.fromEntries(gatewayListeners.map((g) => [g.name, baseUrl(g.server)]));
  const ports = [proxyServer, adminServer, ...gatewayListeners.map((g) => g.server), ...(intercept ? [intercept] : []), ...(webhooks ? [webhooks] : [])].map(
    (s) => (s.address() as AddressInfo).port,
  );
  for (const port of ports) listeningPorts.add(port);
  const url = baseUrl(proxyServer);
  const adminUrl = baseUrl(adminServer);
  const webhookUrl = webhooks && { webhookUrl: baseUrl(webhooks) };
  deps.lifecycle.ready = true;
  deliverer?.start();
  matcher?.start();
  const gateways = gatewayListeners.length > 0 ? { gateways: gatewayUrls } : {};
  deps.logger.info(
    { url, adminUrl, ...webhookUrl, ...gateways, upstream: config.upstream.url, routes: config.routes.length, ...runningFields(config) },
    "listening",
  );
  if (!options.store) checkRedisDurability(config, deps);

  return {
    deps,
    url,
    adminUrl,
    proxyServer,
    adminServer,
    gatewayUrls,
    ...(intercept ? { interceptPort: (intercept.address() as AddressInfo).port } : {}),
    ...webhookUrl,
    reload: (next) => reloadConfig(deps, config, next),
    shutdown: async () => {
      // No new deliveries; those in flight are aborted and due again (at least once).
      await deliverer?.stop();
      await matcher?.stop();
      // The gateways' own listeners take no new connections; those open drain with server.port's.
      for (const g of gatewayListeners) g.server.close();
      intercept?.close();
      // A notification being stored finishes; the gateway resends any the listener no longer takes.
      webhooks?.close();
      for (const port of ports) listeningPorts.delete(port);
      return drain({ ...deps, proxyServer, adminServer }, deps.live.current.config.shutdown);
    },
  };
}

/** Logger, metrics, store and the first generation; nothing listens yet. */
async function buildDeps(config: Config, options: StartOptions): Promise<AppDeps> {
  const logger = options.logger ?? createLogger(config.log.level);
  const metrics = options.metrics ?? createMetrics();
  const store: ReadyStore = options.store ?? (await createStore(config.store, { metrics, logger, settles: config.webhooks.endpoints.length > 0 }));
  metrics.observeStore(() => store.stats());
  metrics.observeBufferedBodies(bufferedBodyBytes);
  const settlements = new Settlements();
  metrics.observeSettlements(() => settlements.size);
  const deps: AppDeps = {
    live: new Live(buildGeneration(1, config, { metrics, logger })),
    metrics,
    logger,
    lifecycle: { ready: false, draining: false },
    store,
    settlements,
    replica: process.env.PAYGUARD_REPLICA || hostname(),
    // off: undefined, and no OpenTelemetry module is loaded (tracing/load.ts)
    tracing: await loadTracing(config.tracing, metrics),
  };
  metrics.configGeneration.set(1);
  return deps;
}

/**
 * Redis keeps records across its own restart only with AOF: said at start when it does not
 * (store/redis/durability.ts). Not awaited: asking never delays serving.
 */
function checkRedisDurability(config: Config, deps: AppDeps): void {
  if (config.store.type !== "redis") return;
  const { url, cluster, sentinel, operationTimeout } = config.store;
  const topology = { url, clusterNodes: cluster.nodes, sentinel, operationTimeout };
  void import("./store/redis/durability.js")
    .then(({ reportAppendOnly }) => reportAppendOnly(topology, deps.logger))
    .catch((err: unknown) => deps.logger.warn({ err: String(err) }, "store: redis appendonly could not be checked"));
}

/** Payguard.reload: `running` is the config payguard started with (what a restart would replace). */
function reloadConfig(deps: AppDeps, running: Config, next: Config): ReloadOutcome {
  const { metrics, logger } = deps;
  const current = deps.live.current;
  const pending = restartRequired(running, next);
  metrics.configRestartRequired.set(pending.length > 0 ? 1 : 0);
  if (sameJson(current.config, next)) return { result: "unchanged", generation: current.id, restartRequired: pending };
  const generation = buildGeneration(current.id + 1, next, { metrics, logger }, current);
  deps.live.swap(generation);
  logger.level = next.log.level;
  metrics.configGeneration.set(generation.id);
  return { result: "applied", generation: generation.id, restartRequired: pending };
}

/**
 * The interception listener when `intercept.ca` is set. Its module (X.509, a Reflect polyfill)
 * is loaded only then: a process without interception never holds it.
 */
async function interceptionFor(config: Config, deps: AppDeps, http: Server): Promise<Interception | undefined> {
  if (!config.intercept.ca) return undefined;
  const { interception } = await import("./tls/intercept.js");
  return interception(config.intercept, deps.live, http);
}

/** HTTPS proxy mode (tls/connect.ts) in place of refusing every CONNECT. */
async function acceptConnect(http: Server, terminate: Terminate, config: Config, deps: AppDeps): Promise<void> {
  const { connectHandler } = await import("./tls/connect.js");
  const refuse = (socket: Duplex, code: ProblemCode) => writeRawProblem(socket, code, deps);
  http.removeAllListeners("connect");
  http.on("connect", connectHandler({ live: deps.live, terminate, passThrough: new Set(config.intercept.passThrough), refuse }));
}

/** Slow-client limits both listeners share. */
function slowClientLimits(limits: Config["limits"]) {
  return {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    // Node checks both timeouts only every connectionsCheckingInterval (default 30 s), so a
    // slowloris client would hold its socket far past headersTimeout without this.
    connectionsCheckingInterval: checkingInterval(limits),
    maxHeaderSize: limits.maxHeaderSize,
  };
}

/** The proxy listener: the app, strict parsing, and raw answers for what never reaches it. */
function createProxyServer(config: Config, deps: AppDeps): Server {
  const app = buildApp(deps);
  const proxyServer = createServer(
    {
      ...slowClientLimits(config.limits),
      // Strict parsing even under NODE_OPTIONS=--insecure-http-parser: obs-fold, bare LF,
      // CL+TE and friends are what request smuggling is made of.
      insecureHTTPParser: false,
      // guard.ts answers a missing Host as a problem (Node's own 400 has no body).
      requireHostHeader: false,
    },
    getRequestListener(app.fetch, {
      hostname: "localhost",
      errorHandler: (err) => problemAsResponse(adapterProblem(err), deps),
    }),
  );
  // guard.ts enforces limits.maxHeaders; Node's own cap (2000) drops extra headers silently.
  proxyServer.maxHeadersCount = 0;
  proxyServer.on("connect", (_req: IncomingMessage, socket: Duplex) => writeRawProblem(socket, "connect_rejected", deps));
  proxyServer.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(err, socket, deps));
  return proxyServer;
}

/** A request Node's parser refused (or a socket that failed) on the proxy listener. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex, deps: AppDeps) {
  const code: ProblemCode = err.code === "HPE_HEADER_OVERFLOW" ? "headers_too_large" : "invalid_request";
  if (err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "ECONNRESET") return void socket.destroy();
  // Garbage pipelined behind a complete request that is still being answered: a raw 400
  // now would be read as the answer to that request (which may have reached the gateway).
  // Let its answer finish, then close; nothing after the garbage is ever parsed. A broken
  // body of the request being answered is that request's error: it gets the 400, and its
  // body never completes, so it is never forwarded.
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight?.req.complete) return closeAfter(inFlight, socket);
  if (inFlight?.headersSent) return void socket.destroy();
  writeRawProblem(socket, code, deps);
}

/** The admin listener gets the same slow-client limits: the admin API takes request bodies. */
/** The inbox, when webhook endpoints are configured (config/webhooks.ts made sure the store keeps one). */
function inboxFor(config: Config, deps: AppDeps): WebhookInbox | undefined {
  if (config.webhooks.endpoints.length === 0) return undefined;
  if (!deps.store.webhooks) throw new Error("webhooks: the store keeps no inbox (store.type sqlite or postgres does)");
  return deps.store.webhooks;
}

function delivererFor(config: Config, deps: AppDeps): Deliverer | undefined {
  const inbox = inboxFor(config, deps);
  return inbox && new Deliverer(config, { inbox, metrics: deps.metrics, logger: deps.logger, replica: deps.replica, tracing: deps.tracing });
}

/** The webhook listener, when endpoints are configured. */
function webhookServerFor(config: Config, deps: AppDeps, deliverer: Deliverer | undefined): Server | undefined {
  const inbox = inboxFor(config, deps);
  if (!inbox) return undefined;
  return createAdaptorServer({
    fetch: buildWebhookApp(config, {
      inbox,
      metrics: deps.metrics,
      logger: deps.logger,
      replica: deps.replica,
      lateMatchWindow: config.webhooks.lateMatch.window,
      onStored: () => deliverer?.wake(),
    }).fetch,
    hostname: "localhost",
    serverOptions: slowClientLimits(config.limits),
  }) as Server;
}

function createAdminServer(config: Config, deps: AppDeps): Server {
  return createAdaptorServer({
    fetch: buildAdminApp(deps).fetch,
    hostname: "localhost",
    serverOptions: slowClientLimits(config.limits),
  }) as Server;
}

function listen(server: Server | NetServer, at: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function baseUrl(server: Server | NetServer): string {
  const { address, family, port } = server.address() as AddressInfo;
  const host = address === "0.0.0.0" || address === "::" ? "127.0.0.1" : family === "IPv6" ? `[${address}]` : address;
  return `http://${host}:${port}`;
}

/**
 * A request the hono adapter could not turn into a Request: unparseable, or a backslash in
 * the path (the path rule of guard.ts refuses those too). The connection is closed after.
 */
function adapterProblem(err: unknown): ProxyError {
  const backslash = err instanceof Error && err.name === "RequestError" && /backslash/i.test(err.message);
  return backslash
    ? new ProxyError("path_rejected", "backslash in the path", { connection: "close" }, { cause: err })
    : new ProxyError("invalid_request", undefined, { connection: "close" }, { cause: err });
}

/**
 * The answer to a request that never reached the app, under the current profile, with a
 * request id of its own that the log line names. Nothing of it was forwarded: any re-send is
 * safe.
 */
function rawAnswer(err: ProxyError, deps: Pick<AppDeps, "live" | "logger">) {
  const requestId = randomUUID();
  deps.logger.info({ reqId: requestId, code: err.code, flag: err.flag, ...(err.detail ? { detail: err.detail } : {}) }, "refused before routing");
  return problemResponse(err, { requestId, resendSafe: true, mayHaveHappened: false, profile: deps.live.current.profile });
}

function problemAsResponse(err: ProxyError, deps: Pick<AppDeps, "live" | "logger">): Response {
  const { status, headers, body } = rawAnswer(err, deps);
  return new Response(body, { status, headers });
}

/**
 * How often Node looks for connections past headersTimeout/requestTimeout: often enough
 * that a slow client is cut within about half a headersTimeout (at most 1 s late), and no
 * more often than every 100 ms.
 */
export function checkingInterval(limits: Pick<Config["limits"], "headersTimeout">): number {
  return Math.max(100, Math.min(1000, Math.floor(limits.headersTimeout / 2)));
}

/** Ends the connection once `res` is done: no keep-alive after a parse error. */
function closeAfter(res: ServerResponse, socket: Duplex): void {
  if (!res.headersSent) res.shouldKeepAlive = false;
  const end = () => (socket as Socket).destroySoon();
  if (res.writableFinished) {
    end();
    return;
  }
  res.once("finish", end);
  res.once("close", end);
}

/** For sockets that never became a request (CONNECT, parse errors): answer, then close. */
function writeRawProblem(socket: Duplex, code: ProblemCode, deps: Pick<AppDeps, "live" | "logger">): void {
  if (!socket.writable) return void socket.destroy();
  const err = new ProxyError(code);
  const { status, headers, body } = rawAnswer(err, deps);
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`];
  for (const [name, value] of Object.entries({ ...headers, "content-length": String(Buffer.byteLength(body)), connection: "close" })) {
    head.push(`${name}: ${value}`);
  }
  socket.end(`${head.join("\r\n")}\r\n\r\n${body}`);
}
