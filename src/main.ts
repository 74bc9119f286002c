#!/usr/bin/env node
/**
 * The payguard command: `payguard [serve] [--config FILE]`, `payguard check --config FILE`,
 * `--version`, `--help`. Config comes from --config, else $PAYGUARD_CONFIG.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isConfigError, readConfigFile } from "./config/load.js";
import { createConfigReloader } from "./config/reload.js";
import { compileRoutes, type RoutePolicy } from "./config/routes.js";
import type { Config } from "./config/schema.js";
import { formatDuration, formatSize } from "./config/units.js";
import { createLogger } from "./log.js";
import { startPayguard } from "./server.js";

const HELP = `payguard — idempotency and safe retries in front of a payment gateway

Usage:
  payguard [serve] [--config FILE]   run the proxy (config from --config or $PAYGUARD_CONFIG)
  payguard check --config FILE       validate a config, print the effective settings, exit 0/1
  payguard --version                 print the version
  payguard --help                    print this help
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (err) {
    process.stderr.write(`payguard: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }

  const command = positionals[0] ?? "serve";
  if (positionals.length > 1 || (command !== "serve" && command !== "check")) {
    process.stderr.write(`payguard: unknown command ${JSON.stringify(positionals.join(" "))}\n\n${HELP}`);
    return 2;
  }
  const file = values.config ?? process.env.PAYGUARD_CONFIG;
  if (!file) {
    process.stderr.write("payguard: no config file: pass --config FILE or set PAYGUARD_CONFIG\n");
    return 2;
  }

  let config: Config;
  let text: string;
  try {
    ({ config, text } = await readConfigFile(file));
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  if (command === "check") {
    process.stdout.write(summary(file, config));
    return 0;
  }
  return serve(file, text, config);
}

function parseCli(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}

async function serve(file: string, text: string, config: Config): Promise<number> {
  const logger = createLogger(config.log.level);
  const payguard = await startPayguard(config, { logger });
  const reloader = createConfigReloader({
    file,
    loadedText: text,
    apply: (next) => payguard.reload(next),
    watch: config.reload.watch,
    debounceMs: config.reload.debounce,
    logger,
    metrics: payguard.deps.metrics,
  });
  const onHangup = () => {
    reloader.reload("signal").catch((err: unknown) => logger.error({ err: String(err) }, "config reload failed"));
  };
  // Kept while shutting down (Node's default for SIGHUP is to exit): a closed reloader ignores it.
  process.on("SIGHUP", onHangup);
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting now");
        return resolve(1);
      }
      stopping = true;
      reloader.close();
      logger.info({ signal }, "shutdown requested");
      payguard.shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

/** The effective resilience and idempotency policy of one route, for `payguard check`. */
function describeRoute(route: RoutePolicy): string[] {
  const { timeout, retry, bulkhead, breaker } = route.resilience;
  const idem = route.idempotency;
  const d = formatDuration;
  return [
    `timeouts    attempt ${d(timeout.attempt)}, total ${d(timeout.total)}`,
    retry.maxAttempts <= 1
      ? "retry       off (1 attempt)"
      : `retry       up to ${retry.maxAttempts} attempts on ${retry.on.join(", ")}; backoff ${retry.backoff.type} ${d(retry.backoff.initial)}..${d(retry.backoff.max)} jitter ${retry.backoff.jitter}; Retry-After ${retry.retryAfter.honor ? `honoured up to ${d(retry.retryAfter.max)}` : "ignored"}; budget ${retry.budget.ratio} x requests + ${retry.budget.minPerSecond}/s over ${d(retry.budget.window)}`,
    `bulkhead    ${bulkhead.maxConcurrent} concurrent, ${bulkhead.maxQueue} queued`,
    breaker.type === "consecutive"
      ? `breaker     opens after ${breaker.threshold} failures in a row, half-open after ${d(breaker.halfOpenAfter)}`
      : `breaker     opens at ${breaker.sampling.failureRate * 100}% failures over ${d(breaker.sampling.window)} (min ${breaker.sampling.minRequests} requests), half-open after ${d(breaker.halfOpenAfter)}`,
    idem.mode === "off"
      ? "idempotency off"
      : `idempotency ${idem.mode} for ${idem.methods.join(",")} (header ${idem.header}, ttl ${d(idem.ttl)}, in flight: ${idem.inFlight.strategy}, upstream key: ${idem.upstreamKey === false ? "off" : idem.upstreamKey.header})`,
  ];
}

/** A Redis URL without its password, for printing. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(":") ? `${auth.split(":")[0]}:***` : "***"}@`);
}

function summary(file: string, config: Config): string {
  const lines = [
    `config ${file}: ok`,
    `  proxy     ${config.server.host}:${config.server.port} → ${config.upstream.url} (${config.upstream.connections} connections)`,
    `  admin     ${config.admin.host}:${config.admin.port} (/healthz /readyz /metrics)`,
    `  limits    body ${formatSize(config.limits.maxBodySize)}, headers ${formatDuration(config.limits.headersTimeout)}, request ${formatDuration(config.limits.requestTimeout)}`,
    `  shutdown  readiness delay ${formatDuration(config.shutdown.readinessDelay)}, drain ${formatDuration(config.shutdown.drainTimeout)}`,
    config.store.type === "memory"
      ? `  store     memory, ${config.store.maxEntries} entries, ${formatSize(config.store.maxSize)}`
      : `  store     redis ${config.store.cluster.nodes.length > 0 ? `cluster (${config.store.cluster.nodes.length} seed nodes)` : redactUrl(config.store.url)}, prefix ${config.store.prefix}, timeout ${formatDuration(config.store.operationTimeout)}, when down: ${config.store.onUnavailable}, journal ${config.store.journal.dir}${config.store.journal.fsync ? " (fsync)" : ""}, encryption ${config.store.encryption.key ? "on" : "off"}`,
    "  effective policy per route (first match wins; default = no route matched):",
  ];
  const table = compileRoutes(config);
  const matchers = new Map(config.routes.map((r, i) => [r.name ?? `route-${i}`, `${(r.methods ?? ["*"]).join(",")} ${r.path}`]));
  for (const route of [...table.routes, table.fallback]) {
    lines.push(`  - ${route.name}${matchers.has(route.name) ? ` (${matchers.get(route.name)})` : ""}`, ...describeRoute(route).map((l) => `      ${l}`));
  }
  return `${lines.join("\n")}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // serve resolves only at shutdown; give pino's async writer a tick to flush, then leave.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`payguard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
