/**
 * What must go when the run ends however it ends — Redis keys, a PostgreSQL schema, a child
 * process: synchronous steps, run once, from the normal path or from process.on("exit").
 */
const steps = new Map<number, () => void>();
let next = 0;

/** Registers `step`; the returned function runs it now (and unregisters it). */
export function onCleanup(step: () => void): () => void {
  const id = next++;
  steps.set(id, step);
  return () => {
    if (!steps.delete(id)) return;
    step();
  };
}

/** Runs every step still registered; one that throws does not stop the others. */
export function cleanupAll(): void {
  for (const [id, step] of [...steps]) {
    steps.delete(id);
    try {
      step();
    } catch (err) {
      console.error(`cleanup failed: ${(err as Error).message}`);
    }
  }
}
