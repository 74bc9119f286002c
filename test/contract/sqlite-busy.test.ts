import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// A file of its own, with no better-sqlite3 object in this process: on Node 24, a test process
// that has created and dropped many of them can abort in V8's GC (better-sqlite3 12.x's
// `(env) != nullptr` teardown assertion) during a test that only waits, as this one does.
describe("sqlite store under another process's lock", () => {
  it("a sweep that finds the file locked past busy_timeout is skipped, not fatal; the next one deletes", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "payguard-sqlite-busy-")), "payguard.db");
    // In a child process: see test/support/sqlite-busy-sweep.mjs.
    const script = fileURLToPath(new URL("../support/sqlite-busy-sweep.mjs", import.meta.url));
    const child = spawn(process.execPath, [script, path], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const [code] = await once(child, "exit");
    expect({ code, output }).toEqual({ code: 0, output: "swept\n" });
  }, 30_000);
});
