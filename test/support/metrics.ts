import { send } from "./http.js";

/** Reads one sample from Prometheus text: exact label set, 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (wanted.length === 0) {
      if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
      continue;
    }
    if (!line.startsWith(`${name}{`)) continue;
    const have = line.slice(name.length + 1, line.indexOf("}")).split(",");
    if (have.length === wanted.length && wanted.every((w) => have.includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

/** One sample of payguard's /metrics (admin listener), by name and labels. */
export async function metric(pg: { adminUrl: string }, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sample((await send(pg.adminUrl, "/metrics")).body.toString(), name, labels);
}
