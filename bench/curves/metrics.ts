/** One gauge from payguard's /metrics (Prometheus text) on its admin port. */
export async function gauge(adminUrl: string, name: string): Promise<number | undefined> {
  const res = await fetch(`${adminUrl}/metrics`);
  const body = await res.text();
  if (!res.ok) throw new Error(`GET ${adminUrl}/metrics: ${res.status}`);
  const line = body.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}
