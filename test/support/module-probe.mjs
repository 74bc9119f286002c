/**
 * Preloaded into a process under test (`node --import …/module-probe.mjs`): when it exits,
 * writes the file of every CommonJS module it loaded to MODULE_PROBE_FILE, one per line.
 * pg and the Redis client are CommonJS (pg's ESM entry wraps its CommonJS files), so this
 * tells whether a process loaded them.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const file = process.env.MODULE_PROBE_FILE;
if (!file) throw new Error("module-probe: MODULE_PROBE_FILE is not set");

const cache = createRequire(import.meta.url).cache;
process.on("exit", () => writeFileSync(file, Object.keys(cache).join("\n")));
