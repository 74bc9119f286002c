/** One gauge from payguard's /metrics (Prometheus text) on its admin port. */
export async function gauge(adminUrl: string, name: string): Promise<number | undefined> {
  const res = await fetch(`${adminUrl}/metrics`);
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${adminUrl}/metrics: ${res.status}`);
  const line = body.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/**
 * The gauge once it has caught up with `expected` (SQLite's counts come from a background
 * thread every 5 s), or its last value after `maxMs`.
 */
export async function caughtUp(adminUrl: string, name: string, expected: number, maxMs = 8_000): Promise<number | undefined> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const value = await gauge(adminUrl, name);
    if ((value !== undefined && value >= expected) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
