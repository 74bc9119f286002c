/**
 * A SQLite store payguard cannot write, through the CLI: at start it is an error with a
 * one-line reason, never a ready process that answers every new key with 500; once running,
 * /readyz is 503 for as long as the store cannot take a claim.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { json, send } from "../support/http.js";
import { type Child, startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";
import { until } from "../support/until.js";

const MAIN = new URL("../../dist/main.js", import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;
const asRoot = it.skipIf(!isRoot); // skipped unless root: the tests switch to an unprivileged user (CI runs as root)

let gw: FakeGateway;
const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  gw.reset();
});
afterAll(async () => {
  await gw.close();
});

/** A store in a fresh directory any user can read (owned by nobody if asked), and a config naming it that any user can read. */
function sharedStore(dir = mkdtempSync(join(tmpdir(), "payguard-unwritable-")), owner: "root" | "nobody" = "root"): { path: string; config: string } {
  chmodSync(dir, 0o755);
  if (owner === "nobody") chownSync(dir, idOf("-u"), idOf("-g"));
  const path = join(dir, "payguard.db");
  const config = writeTempConfig(testConfigYaml(gw.url, `store: { type: sqlite, path: "${path}" }`));
  chmodSync(dirname(config), 0o755);
  return { path, config };
}

async function start(config: string): Promise<Child> {
  const child = await startChild(config);
  children.push(child.proc);
  return child;
}

/** `payguard serve` as the user nobody, to its exit (killed after 15 s if it serves instead). */
async function serveAsNobody(config: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // setpriv execs node itself (runuser would stay its parent): a kill reaches payguard.
  const nobody = [`--reuid=${idOf("-u")}`, `--regid=${idOf("-g")}`, "--clear-groups"];
  const proc = spawn("setpriv", [...nobody, process.execPath, MAIN, "serve", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(proc);
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d) => (stdout += d));
  proc.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  const [code] = (await once(proc, "close")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const pay = (url: string, key: string) =>
  send(url, "/v1/charges", {
    method: "POST",
    headers: { authorization: "Bearer sk_test_unwritable", "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount: 1000, currency: "eur" }),
  });
const readyz = async (adminUrl: string) => (await send(adminUrl, "/readyz")).status;

describe("a SQLite store payguard cannot write", () => {
  // setpriv needs root: the file must belong to another user than the one payguard runs as.
  // Its directory owned by root, or by payguard's user (a data volume, run once as root by mistake).
  for (const owner of ["root", "nobody"] as const)
    asRoot(
      // skipped unless root: the test switches to an unprivileged user (CI runs as root)
      `made by root in a directory of ${owner}'s, killed with its -wal and -shm left: as another user, exit 1 at start with a one-line reason`,
      async () => {
        const { path, config } = sharedStore(undefined, owner);
        const first = await start(config);
        gw.script(steps.json(201, { id: "ch_root" }));
        expect((await pay(first.url, randomUUID())).status).toBe(201);
        first.proc.kill("SIGKILL");
        await first.exited;
        expect([existsSync(`${path}-wal`), existsSync(`${path}-shm`)]).toEqual([true, true]);

        const { code, stdout, stderr } = await serveAsNobody(config);
        expect({ code, listening: stdout.includes('"listening"') }).toEqual({ code: 1, listening: false });
        expect(stderr).toMatch(/^payguard: cannot write the SQLite store at store\.path \S+payguard\.db: .*SQLITE_READONLY.*\n$/);
        expect(stderr.trim().split("\n")).toHaveLength(1);
      },
      40_000,
    );

  asRoot(
    // skipped unless root: the test switches to an unprivileged user (CI runs as root)
    "made by root and closed cleanly: as another user, exit 1 at start with a one-line reason, no stack trace",
    async () => {
      const { path, config } = sharedStore();
      const first = await start(config);
      first.proc.kill("SIGTERM");
      expect(await first.exited).toBe(0);
      expect(existsSync(`${path}-wal`)).toBe(false);

      const { code, stdout, stderr } = await serveAsNobody(config);
      expect({ code, listening: stdout.includes('"listening"') }).toEqual({ code: 1, listening: false });
      expect(stderr).toMatch(/^payguard: cannot write the SQLite store at store\.path \S+payguard\.db: .*\n$/);
      expect(stderr.trim().split("\n")).toHaveLength(1);
    },
    40_000,
  );

  // Mounting a tmpfs needs root.
  asRoot(
    // skipped unless root: the test switches to an unprivileged user (CI runs as root)
    "its disk full while running: /readyz 503 and new keys 503 store_unavailable, nothing sent; ready again once there is room",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "payguard-full-"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir]);
      cleanups.push(() => execFileSync("umount", ["-l", dir]));
      const { path, config } = sharedStore(dir);
      const running = await start(config);
      expect(await readyz(running.adminUrl)).toBe(200);

      // A reader's open snapshot keeps the WAL from starting over: every commit must grow it.
      const reader = new Database(path, { readonly: true });
      cleanups.push(() => reader.close());
      reader.exec("BEGIN");
      reader.prepare("SELECT COUNT(*) FROM records").get();
      const filler = join(dir, "filler");
      fill(filler);

      await until(async () => (await readyz(running.adminUrl)) === 503, "/readyz says not ready", 10_000);
      expect(json(await send(running.adminUrl, "/readyz"))).toEqual({ status: "store unavailable" });
      const key = randomUUID();
      const refused = await pay(running.url, key);
      expect({ status: refused.status, code: json(refused).code }).toEqual({ status: 503, code: "store_unavailable" });
      expect(gw.requests.filter((r) => r.headers["idempotency-key"] === key)).toHaveLength(0);

      rmSync(filler);
      await until(async () => (await readyz(running.adminUrl)) === 200, "/readyz says ready again", 10_000);
      gw.script(steps.json(201, { id: "ch_after" }));
      expect((await pay(running.url, key)).status).toBe(201);
    },
    40_000,
  );
});

/** nobody's uid (`-u`) or gid (`-g`). */
function idOf(flag: "-u" | "-g"): number {
  return Number(execFileSync("id", [flag, "nobody"], { encoding: "utf8" }).trim());
}

/** Writes `file` until the disk is full. */
function fill(file: string): void {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}
