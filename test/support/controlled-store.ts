/**
 * The memory store with its writes under a test's control: complete() can be held back until
 * the test lets it through, or made to fail, as a store whose disk or network is in trouble.
 * Everything else is the real memory store.
 */
import { createMemoryStore } from "../../src/store/memory.js";
import type { ReadyStore } from "../../src/store/shared/store.js";
import { StoreError } from "../../src/store/types.js";

export interface ControlledStore extends ReadyStore {
  /** complete() calls so far, failed ones included */
  readonly completes: number;
  /** "completed" for each answer the store took, "closed" when it closed: in order */
  readonly events: readonly string[];
  readonly renews: number;
  /** From now on complete() waits until open(); `reached` resolves when one is waiting. */
  holdCompletes(): { reached: Promise<void>; open(): void };
  /** The next `n` complete() calls throw store_unavailable (as a journal append with ENOSPC would). */
  failCompletes(n: number): void;
}

export function controlledStore(): ControlledStore {
  const inner = createMemoryStore({ maxEntries: 10_000, maxSize: 64 * 1024 * 1024 });
  let completes = 0;
  let renews = 0;
  let failing = 0;
  let gate: Promise<void> | undefined;
  let closed = false;
  const events: string[] = [];
  let arrived: (() => void) | undefined;
  return {
    ...inner,
    ready: () => true,
    get completes() {
      return completes;
    },
    get renews() {
      return renews;
    },
    events,
    async complete(key, token, record, ttlMs) {
      completes++;
      if (gate) {
        arrived?.();
        await gate;
      }
      if (failing > 0 || closed) {
        failing = Math.max(0, failing - 1);
        throw new StoreError("store_unavailable", closed ? "the store is closed" : "the store cannot take writes (test)");
      }
      const done = await inner.complete(key, token, record, ttlMs);
      events.push("completed");
      return done;
    },
    async close() {
      closed = true;
      events.push("closed");
      await inner.close();
    },
    async renew(key, token, leaseMs) {
      renews++;
      return inner.renew(key, token, leaseMs);
    },
    holdCompletes() {
      let open = () => {};
      gate = new Promise<void>((resolve) => {
        open = () => {
          gate = undefined;
          resolve();
        };
      });
      const reached = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      return { reached, open };
    },
    failCompletes(n) {
      failing = n;
    },
  };
}
