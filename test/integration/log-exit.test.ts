/**
 * Standard output is batched (src/log.ts): a process that logs and exits at once — as payguard
 * does one tick after its shutdown — still writes every line, to a pipe. The batch already
 * being written asynchronously at exit may land after the lines written synchronously then
 * (seen on Node 24), so the lines are compared as a set.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runNode } from "../support/payguard.js";

describe("logs at exit", () => {
  it("every line waiting in the batch is written before the process ends", async () => {
    const script = join(mkdtempSync(join(tmpdir(), "payguard-log-exit-")), "exit.mjs");
    const log = new URL("../../dist/log.js", import.meta.url).href;
    writeFileSync(
      script,
      `import { createLogger } from "${log}";\nconst logger = createLogger("info");\nfor (let i = 0; i < 500; i++) logger.info({ i }, "line");\nprocess.exit(0);\n`,
    );
    const { code, stdout } = await runNode(script, []);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { i: number }).i);
    expect(lines).toHaveLength(500);
    expect([...lines].sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });
});
