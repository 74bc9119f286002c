/**
 * What payguard allocates per request, and where: V8's sampling heap profiler (counting
 * collected objects too: bench/alloc-probe.mjs) over a closed-loop run of one scenario; the
 * sampled bytes by allocating function (self) and by the payguard file on the stack nearest
 * to the allocation, per request. Heap bytes only (Buffers' backing stores are not on it).
 *
 *   npm run bench:alloc [-- --scenario get|fresh --seconds 5 --top 25]
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { load, type Scenario } from "./load.js";
import { runBench, startGateway, startPayguard, tempDir } from "./targets.js";

const { values } = parseArgs({
  options: {
    scenario: { type: "string", default: "get" },
    seconds: { type: "string", default: "5" },
    top: { type: "string", default: "25" },
    store: { type: "string" },
  },
});

const body1k = JSON.stringify({ amount: 1999, currency: "eur", description: "x".repeat(1024 - 60) });
const json = { "content-type": "application/json", authorization: "Bearer sk_test_bench" };
const SCENARIOS: Record<string, Scenario> = {
  get: { name: "GET pass-through", method: "GET", path: "/v1/balance?expand=available" },
  fresh: { name: "POST 1 KB, new key each", method: "POST", path: "/v1/charges", headers: json, body: body1k, key: "fresh" },
};

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  id: number;
  children: Node[];
}

const where = (frame: Node["callFrame"]) => {
  if (!frame.url) return "(native)";
  const path = frame.url.startsWith("file://") ? relative(process.cwd(), fileURLToPath(frame.url)) : frame.url;
  return `${path}:${frame.lineNumber + 1}`;
};
const isOurs = (frame: Node["callFrame"]) => frame.url.includes("/dist/");

/** Bytes by allocating function, and by the nearest payguard frame on the stack ("—" when none). */
function tally(root: Node, samples: { size: number; nodeId: number }[]) {
  const parent = new Map<number, Node>();
  const byId = new Map<number, Node>();
  const walk = (node: Node) => {
    byId.set(node.id, node);
    for (const child of node.children) {
      parent.set(child.id, node);
      walk(child);
    }
  };
  walk(root);
  const self = new Map<string, number>();
  const ours = new Map<string, number>();
  for (const { size, nodeId } of samples) {
    const node = byId.get(nodeId) as Node;
    const key = `${node.callFrame.functionName || "(anonymous)"} ${where(node.callFrame)}`;
    self.set(key, (self.get(key) ?? 0) + size);
    let up: Node | undefined = node;
    while (up && !isOurs(up.callFrame)) up = parent.get(up.id);
    const owner = up ? `${up.callFrame.functionName || "(anonymous)"} ${where(up.callFrame)}` : "— (no payguard frame: Node, undici, hono on their own)";
    ours.set(owner, (ours.get(owner) ?? 0) + size);
  }
  return { self, ours };
}

function table(title: string, bytes: Map<string, number>, requests: number, top: number): string {
  const total = [...bytes.values()].reduce((a, b) => a + b, 0);
  const rows = [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `\n### ${title}`,
    "",
    "| bytes / request | % | where |",
    "|---|---|---|",
    ...rows.map(([key, n]) => `| ${Math.round(n / requests)} | ${((100 * n) / total).toFixed(1)} | ${key} |`),
  ].join("\n");
}

async function main(): Promise<void> {
  const scenario = SCENARIOS[values.scenario] as Scenario;
  const file = join(tempDir("payguard-alloc-"), "alloc.json");
  const gateway = await startGateway();
  const payguard = await startPayguard({ name: "payguard", upstreamUrl: gateway.url, allocProbe: file, ...(values.store ? { store: values.store } : {}) });
  await load(payguard.url, scenario, { seconds: 2, connections: 32 });
  process.kill(payguard.pid, "SIGUSR2");
  const sample = await load(payguard.url, scenario, { seconds: Number(values.seconds), connections: 32 });
  process.kill(payguard.pid, "SIGUSR2");
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  const profile = JSON.parse(readFileSync(file, "utf8")) as { head: Node; samples: { size: number; nodeId: number }[] };
  const total = profile.samples.reduce((a, s) => a + s.size, 0);
  const { self, ours } = tally(profile.head, profile.samples);
  console.log(`# ${scenario.name}: ${sample.requests} requests, ${(total / sample.requests / 1000).toFixed(1)} kB sampled per request`);
  console.log(table("by the nearest payguard function on the stack", ours, sample.requests, Number(values.top)));
  console.log(table("by allocating function", self, sample.requests, Number(values.top)));
  await Promise.all([gateway.stop(), payguard.stop()]);
}

runBench(main);
