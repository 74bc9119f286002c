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

export interface ConfigReloader {
  /** Reads the file now; resolves when this attempt (after any earlier one) is done. */
  reload(trigger: "signal" | "watch" | "poll"): Promise<ReloadResult>;
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

export function createConfigReloader(options: ReloaderOptions): ConfigReloader {
  const { file, logger, metrics } = options;
  let applied = digest(options.loadedText);
  let rejected: string | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  let closed = false;
  async function attempt(trigger: "signal" | "watch" | "poll"): Promise<ReloadResult> {
    // After close (shutting down), nothing is applied: a new generation would open a pool
    // that the drain has already passed.
    if (closed) return { result: "unchanged" };
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      return reject(trigger, undefined, [`cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
    }
    const seen = digest(text);
    if (seen === applied) {
      // Only an explicit request is worth a metric and a line; watch noise is not.
      if (trigger === "signal") {
        metrics.configReloads.inc({ result: "unchanged" });
        logger.info({ trigger, file }, "config reload: file unchanged");
      }
      return { result: "unchanged" };
    }
    if (seen === rejected && trigger !== "signal") return { result: "rejected" };
    let config: Config;
    try {
      config = parseConfig(text, options.env ?? process.env, file);
    } catch (err) {
      if (!isConfigError(err)) throw err;
      return reject(trigger, seen, err.problems);
    }
    if (closed) return { result: "unchanged" };
    const outcome = options.apply(config);
    applied = seen;
    rejected = undefined;
    metrics.configReloads.inc({ result: outcome.result });
    const line = { trigger, file, generation: outcome.generation, restartRequired: outcome.restartRequired };
    if (outcome.restartRequired.length > 0) logger.warn(line, "config reloaded; some changes apply only after a restart");
    else logger.info(line, outcome.result === "applied" ? "config reloaded" : "config reload: no effective change");
    return { ...outcome };
  }

  function reject(trigger: string, seen: string | undefined, problems: string[]): ReloadResult {
    rejected = seen;
    metrics.configReloads.inc({ result: "rejected" });
    logger.error({ trigger, file, problems }, "config reload rejected: the running config stays");
    return { result: "rejected", problems };
  }

  const reload = (trigger: "signal" | "watch" | "poll"): Promise<ReloadResult> => {
    const next = queue.then(() => attempt(trigger));
    queue = next.catch(() => {});
    return next;
  };

  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  const report = (err: unknown) => logger.error({ err: String(err) }, "config reload failed");
  if (options.watch) {
    try {
      watcher = watch(dirname(file), () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => void reload("watch").catch(report), options.debounceMs);
      });
      watcher.on("error", (err) => logger.warn({ err: String(err), file }, "config watch failed; the poll goes on"));
    } catch (err) {
      logger.warn({ err: String(err), file }, "cannot watch the config directory; polling only");
    }
    poll = setInterval(() => void reload("poll").catch(report), options.pollMs ?? 10_000);
    poll.unref();
    // The file may have changed between the start-up load and the watch: catch up now.
    void reload("watch").catch(report);
  }

  return {
    reload,
    close() {
      closed = true;
      watcher?.close();
      clearTimeout(debounce);
      clearInterval(poll);
    },
  };
}
