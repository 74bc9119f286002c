/**
 * Config hot reload: on SIGHUP, or when the config file changes, the file is read and
 * validated again and, if valid, handed to `apply` (the server swaps in a new config
 * generation). An invalid file is rejected with every problem logged; the running config
 * stays.
 *
 * The watch is on the file's directory, not the file: a Kubernetes ConfigMap update
 * replaces a `..data` symlink in that directory and never writes the file itself, and
 * editors save by renaming a new file over the old one. Changes are debounced and compared
 * by content digest, so a burst of events or a rewrite with the same bytes does nothing.
 * A 10 s poll backs the watch up, for filesystems that drop events.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics/registry.js";
import { type Env, isConfigError, parseConfig } from "./load.js";
import type { Config } from "./schema.js";

export interface ReloadResult {
  result: "applied" | "unchanged" | "rejected";
  generation?: number;
  restartRequired?: string[];
  problems?: string[];
}

type Trigger = "signal" | "watch" | "poll";

export interface ConfigReloader {
  /** Reads the file now; resolves when this attempt (after any earlier one) is done. */
  reload(trigger: Trigger): Promise<ReloadResult>;
  close(): void;
}

export interface ReloaderOptions {
  file: string;
  /** the text the running config was parsed from */
  loadedText: string;
  env?: Env;
  apply(config: Config): { result: "applied" | "unchanged"; generation: number; restartRequired: string[] };
  watch: boolean;
  debounceMs: number;
  pollMs?: number;
  logger: Logger;
  metrics: Metrics;
}

const digest = (text: string) => createHash("sha256").update(text).digest("hex");

/** What the reloader remembers between attempts: the digests of the running file and of the last one refused. */
interface ReloadState {
  applied: string;
  rejected: string | undefined;
  /** shutting down: nothing more is applied */
  closed: boolean;
}

export function createConfigReloader(options: ReloaderOptions): ConfigReloader {
  const state: ReloadState = { applied: digest(options.loadedText), rejected: undefined, closed: false };
  let queue: Promise<unknown> = Promise.resolve();
  const reload = (trigger: Trigger): Promise<ReloadResult> => {
    const next = queue.then(() => attempt(options, state, trigger));
    queue = next.catch(() => {});
    return next;
  };
  const stopWatching = options.watch ? watchFile(options, reload) : () => {};
  return {
    reload,
    close() {
      state.closed = true;
      stopWatching();
    },
  };
}

/** One reload: read the file, skip what was seen, validate, apply. */
async function attempt(options: ReloaderOptions, state: ReloadState, trigger: Trigger): Promise<ReloadResult> {
  const { file, logger, metrics } = options;
  // After close (shutting down), nothing is applied: a new generation would open a pool
  // that the drain has already passed.
  if (state.closed) return { result: "unchanged" };
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    return reject(options, state, trigger, undefined, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const seen = digest(text);
  if (seen === state.applied) {
    // Only an explicit request is worth a metric and a line; watch noise is not.
    if (trigger === "signal") {
      metrics.configReloads.inc({ result: "unchanged" });
      logger.info({ trigger, file }, "config reload: file unchanged");
    }
    return { result: "unchanged" };
  }
  if (seen === state.rejected && trigger !== "signal") return { result: "rejected" };
  let config: Config;
  try {
    config = parseConfig(text, options.env ?? process.env, file);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    return reject(options, state, trigger, seen, err.problems);
  }
  if (state.closed) return { result: "unchanged" };
  return applyConfig(options, state, trigger, seen, config);
}

function applyConfig(options: ReloaderOptions, state: ReloadState, trigger: Trigger, seen: string, config: Config): ReloadResult {
  const { file, logger, metrics } = options;
  const outcome = options.apply(config);
  state.applied = seen;
  state.rejected = undefined;
  metrics.configReloads.inc({ result: outcome.result });
  const line = { trigger, file, generation: outcome.generation, restartRequired: outcome.restartRequired };
  if (outcome.restartRequired.length > 0) logger.warn(line, "config reloaded; some changes apply only after a restart");
  else logger.info(line, outcome.result === "applied" ? "config reloaded" : "config reload: no effective change");
  return { ...outcome };
}

function reject(options: ReloaderOptions, state: ReloadState, trigger: Trigger, seen: string | undefined, problems: string[]): ReloadResult {
  state.rejected = seen;
  options.metrics.configReloads.inc({ result: "rejected" });
  options.logger.error({ trigger, file: options.file, problems }, "config reload rejected: the running config stays");
  return { result: "rejected", problems };
}

/** Watches the file's directory (debounced) and polls it; returns what stops both. */
function watchFile(options: ReloaderOptions, reload: (trigger: Trigger) => Promise<ReloadResult>): () => void {
  const { file, logger } = options;
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  const report = (err: unknown) => logger.error({ err: String(err) }, "config reload failed");
  try {
    watcher = watch(dirname(file), () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => void reload("watch").catch(report), options.debounceMs);
    });
    watcher.on("error", (err) => logger.warn({ err: String(err), file }, "config watch failed; the poll goes on"));
  } catch (err) {
    logger.warn({ err: String(err), file }, "cannot watch the config directory; polling only");
  }
  const poll = setInterval(() => void reload("poll").catch(report), options.pollMs ?? 10_000);
  poll.unref();
  // The file may have changed between the start-up load and the watch: catch up now.
  void reload("watch").catch(report);
  return () => {
    watcher?.close();
    clearTimeout(debounce);
    clearInterval(poll);
  };
}
