/**
 * Requests waiting for a key to change (complete or release), woken by whoever sees the
 * change: the memory or SQLite store itself, the shared layer's own holds, or a shared store's
 * notifications (Redis pub/sub, PostgreSQL LISTEN).
 */
export class Waiters {
  private readonly byKey = new Map<string, Set<() => void>>();

  /** Resolves on wake(key) or after timeoutMs, whichever is first. */
  wait(key: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = this.byKey.get(key) ?? new Set<() => void>();
      this.byKey.set(key, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        set.delete(done);
        if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key);
        resolve();
      }, timeoutMs);
      set.add(done);
    });
  }

  wake(key: string): void {
    const set = this.byKey.get(key);
    if (!set) return;
    this.byKey.delete(key);
    for (const fn of set) fn();
  }

  wakeAll(): void {
    for (const key of [...this.byKey.keys()]) this.wake(key);
  }
}
