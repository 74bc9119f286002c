/**
 * Runs the real payguard for tests: in process (real sockets on port 0, logs captured) or
 * as a child process through the CLI (dist/main.js, built by `pretest`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parse, stringify } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { mergeDefined } from "../../src/config/merge.js";
import { createLogger } from "../../src/log.js";
import { type Payguard, type StartOptions, startPayguard } from "../../src/server.js";

export interface Running {
  pg: Payguard;
  url: string;
  adminUrl: string;
  /** every log line written so far, raw */
  logs: string[];
  close(): Promise<void>;
}

/** Where a test instance sends requests: a URL, or a URL and the gateway profile to use. */
export type TestUpstream = string | { url: string; gateway: string };

/**
 * YAML for a test instance: both listeners on 127.0.0.1:0, quick shutdown. `extra` may set
 * any section, those included: its values win, key by key.
 */
export function testConfigYaml(upstream: TestUpstream, extra = ""): string {
  const { url, gateway } = typeof upstream === "string" ? { url: upstream, gateway: "auto" } : upstream;
  const base = {
    server: { host: "127.0.0.1", port: 0 },
    admin: { host: "127.0.0.1", port: 0 },
    upstream: { url, gateway },
    shutdown: { readinessDelay: "0ms", drainTimeout: "5s" },
    log: { level: "info" },
    // One process each: tests that need the default (sqlite) or a shared store say so.
    store: { type: "memory" },
  };
  return stringify(mergeDefined(base, parse(extra) ?? {}));
}

export async function startInProcess(upstream: TestUpstream, extra = "", options: Pick<StartOptions, "store"> = {}): Promise<Running> {
  return startInProcessYaml(testConfigYaml(upstream, extra), options);
}

/** Starts payguard in process from a complete YAML config, logs captured. */
export async function startInProcessYaml(yaml: string, options: Pick<StartOptions, "store"> = {}): Promise<Running> {
  const config = parseConfig(yaml, {});
  const logs: string[] = [];
  const logger = createLogger(config.log.level, { write: (line: string) => void logs.push(line) });
  const pg = await startPayguard(config, { logger, ...options });
  return { pg, url: pg.url, adminUrl: pg.adminUrl, logs, close: async () => void (await pg.shutdown()) };
}

export interface Child {
  proc: ChildProcess;
  url: string;
  adminUrl: string;
  /** the webhook listener's URL, when it has one */
  webhookUrl?: string;
  /** each gateway's own listener (gateways.<name>.port), by name */
  gatewayUrls: Record<string, string>;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

const MAIN = new URL("../../dist/main.js", import.meta.url).pathname;

export function writeTempConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), "payguard-test-"));
  const file = join(dir, "payguard.yaml");
  writeFileSync(file, yaml);
  return file;
}

/** Runs the CLI to completion; returns its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode(MAIN, args, env);
}

/**
 * Runs a Node script to completion. `only`: the child's environment is PATH and `env` alone
 * (an SDK must not pick up a proxy or CA setting of the test's own); `hostsFile`: its own
 * /etc/hosts (withHostsFile).
 */
export function runNode(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  options: { only?: boolean; hostsFile?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runProgram(process.execPath, [script, ...args], env, options);
}

/** Runs `program` as runNode runs a script: its output collected, optionally with only `env` and its own /etc/hosts. */
export function runProgram(
  program: string,
  args: string[],
  env: Record<string, string> = {},
  options: { only?: boolean; hostsFile?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = options.only ? { PATH: process.env.PATH ?? "" } : process.env;
  const [command, argv] = options.hostsFile ? withHostsFile(options.hostsFile, program, args) : [program, args];
  return new Promise((resolve, reject) => {
    const proc = spawn(command, argv, { env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d) => (stdout += d));
    proc.stderr.on("data", (d) => (stderr += d));
    proc.on("error", reject);
    proc.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs `command` with its own /etc/hosts: a bind mount in a new mount namespace (root only), so
 * the real getaddrinfo reads `hostsFile` — name resolution as a pod with hostAliases sees it.
 */
export function withHostsFile(hostsFile: string, command: string, args: readonly string[]): [string, string[]] {
  return ["unshare", ["-m", "sh", "-c", `mount --bind "${hostsFile}" /etc/hosts && exec "$0" "$@"`, command, ...args]];
}

/** Starts `payguard serve --config FILE` (with Node's `nodeArgs`) and waits for its "listening" log line; `hostsFile`: its own /etc/hosts (withHostsFile). */
export function startChild(configFile: string, env: Record<string, string> = {}, nodeArgs: string[] = [], hostsFile?: string): Promise<Child> {
  const args = [...nodeArgs, MAIN, "serve", "--config", configFile];
  const [command, argv] = hostsFile ? withHostsFile(hostsFile, process.execPath, args) : [process.execPath, args];
  return new Promise((resolve, reject) => {
    const proc = spawn(command, argv, {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    const exited = new Promise<number | null>((done) => proc.on("exit", (code) => done(code)));
    createInterface({ input: proc.stderr }).on("line", (line) => stderr.push(line));
    const timer = setTimeout(() => reject(new Error(`payguard did not start: ${stderr.join("\n")}`)), 10_000);
    createInterface({ input: proc.stdout }).on("line", (line) => {
      stdout.push(line);
      const entry = JSON.parse(line) as { msg?: string; url?: string; adminUrl?: string; webhookUrl?: string; gateways?: Record<string, string> };
      if (entry.msg === "listening" && entry.url && entry.adminUrl) {
        clearTimeout(timer);
        const webhooks = entry.webhookUrl ? { webhookUrl: entry.webhookUrl } : {};
        resolve({ proc, url: entry.url, adminUrl: entry.adminUrl, ...webhooks, gatewayUrls: entry.gateways ?? {}, stdout, stderr, exited });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`payguard exited with ${code}: ${stderr.join("\n")}`));
    });
  });
}
