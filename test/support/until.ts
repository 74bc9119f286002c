import { setTimeout as sleep } from "node:timers/promises";

/**
 * Polls a condition about real servers (in place of a fixed sleep): resolves once it holds,
 * fails after `timeoutMs` naming what it waited for.
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}
