#!/usr/bin/env node
/**
 * The payguard command: `payguard [serve] [--config FILE]`, `payguard check --config FILE`,
 * `--version`, `--help`. Config comes from --config, else $PAYGUARD_CONFIG.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { checkSummary } from "./check.js";
import { isConfigError, type LoadedConfig, readConfigFile } from "./config/load.js";
import { createConfigReloader } from "./config/reload.js";
import type { Config } from "./config/schema.js";
import { createLogger } from "./log.js";
import { startPayguard } from "./server.js";
import { isStoreError } from "./store/types.js";

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

  let loaded: LoadedConfig & { text: string };
  try {
    loaded = await readConfigFile(file);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
  if (command === "check") {
    process.stdout.write(checkSummary(file, loaded));
    return 0;
  }
  return serve(file, loaded.text, loaded.config);
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // serve resolves only at shutdown; give pino's async writer a tick to flush, then leave.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    // A store that cannot open (store.path unwritable, ...) is the operator's to fix: say what, not where in the code.
    const text = isStoreError(err) ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`payguard: ${text}\n`);
    process.exit(1);
  },
);
