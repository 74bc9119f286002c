/**
 * Reads the heap probe (heap-probe.mjs) of a process started with it: the bytes its
 * JavaScript has allocated so far.
 */
import { readFileSync } from "node:fs";
import { until } from "./until.js";

export const HEAP_PROBE = new URL("./heap-probe.mjs", import.meta.url).pathname;

const lines = (file: string) => {
  try {
    return readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

/** Asks the process for its running total and waits for the answer. */
export async function heapAllocated(pid: number, file: string): Promise<number> {
  const before = lines(file).length;
  process.kill(pid, "SIGUSR2");
  await until(async () => lines(file).length > before, "the heap probe's answer", 5_000);
  return Number(lines(file).at(-1));
}
