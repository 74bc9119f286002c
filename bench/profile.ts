/**
 * `npm run bench -- --profile`: payguard under `node --cpu-prof` while it serves the pass-through GET
 * and new-key POST scenarios; after SIGTERM (payguard drains and exits 0, which writes the
 * profile) prints the top functions by self time, and writes them next to RESULTS.md as PROFILE.md.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type FeatureTime, featureTimes, parentsOf } from "./features.js";
import { load, type Scenario } from "./load.js";
import { startGateway, startPayguard, startSink, tempDir } from "./targets.js";

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface Hot {
  name: string;
  where: string;
  selfMs: number;
}

function where(url: string, line: number): string {
  if (!url) return "";
  let path = url.startsWith("file://") ? fileURLToPath(url) : url;
  if (path.startsWith("/")) path = relative(process.cwd(), path);
  return `${path}:${line + 1}`;
}

/** "node_modules/<package>", "dist/<file>", "node:<module>" or "native". */
function moduleOf(hot: Hot): string {
  const file = hot.where.replace(/:\d+$/, "");
  if (!file || file.startsWith("←")) return "native";
  const pkg = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1];
  if (pkg) return `node_modules/${pkg}`;
  if (file.startsWith("node:")) return file.split("/").slice(0, 2).join("/");
  return file;
}

/** Self time per profile node in µs, from the samples (or hit counts). */
function sampledSelfUs(profile: CpuProfile): Map<number, number> {
  const selfUs = new Map<number, number>();
  if (profile.samples && profile.timeDeltas) {
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
    profile.samples.forEach((id, i) => {
      selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas?.[i + 1] ?? 0));
    });
  } else {
    const hits = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
    const per = (profile.endTime - profile.startTime) / Math.max(1, hits);
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }
  return selfUs;
}

/** Self time per function (name + file:line), largest first. */
export function selfTimes(profile: CpuProfile, selfUs = sampledSelfUs(profile)): { hot: Hot[]; totalMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = parentsOf(profile.nodes);
  const byFunction = new Map<string, Hot>();
  let totalMs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const name = node.callFrame.functionName || "(anonymous)";
    let at = where(node.callFrame.url, node.callFrame.lineNumber);
    // A native function (writev, GC …) is told apart by its JS caller.
    const caller = byId.get(parent.get(id) ?? -1)?.callFrame;
    if (!at && caller?.url) at = `← ${caller.functionName || "(anonymous)"} ${where(caller.url, caller.lineNumber)}`;
    const key = `${name} ${at}`;
    const hot = byFunction.get(key) ?? { name, where: at, selfMs: 0 };
    hot.selfMs += us / 1000;
    byFunction.set(key, hot);
    totalMs += us / 1000;
  }
  return { hot: [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs), totalMs };
}

/** Self µs per request by module (moduleOf; a native function with its JS caller's module), over `requests` requests. */
export function moduleTimes(profile: CpuProfile, requests: number): Map<string, number> {
  const perModule = new Map<string, number>();
  for (const hot of selfTimes(profile).hot) {
    const caller = hot.where.startsWith("←") ? moduleOf({ ...hot, where: hot.where.replace(/^← \S+ /, "") }) : undefined;
    const key = caller ? `${hot.name} ← ${caller}` : moduleOf(hot) === "native" ? hot.name : moduleOf(hot);
    perModule.set(key, (perModule.get(key) ?? 0) + (hot.selfMs * 1000) / requests);
  }
  return perModule;
}

/** The per-feature table: every feature at more than 3 % of busy CPU is marked. */
function featureLines(features: FeatureTime[], busyMs: number): string[] {
  const rows = features
    .filter((f) => f.feature !== "(idle)")
    .map((f) => {
      const share = (f.ms / busyMs) * 100;
      return `| ${f.feature} | ${f.ms.toFixed(0)} | ${share.toFixed(1)} | ${share > 3 ? "yes" : ""} |`;
    });
  return [
    "CPU by feature (each sample goes to the innermost payguard feature on its stack, with the native work it called):",
    "",
    "| feature | ms | % busy | > 3 % |",
    "|---|---|---|---|",
    ...rows,
  ];
}

export async function profile(options: {
  duration: number;
  connections: number;
  warmup: number;
  scenarios: Scenario[];
  out: string;
  /** tracing on, 100 % sampled, exported to a sink in this process */
  traced?: boolean;
}): Promise<void> {
  const dir = tempDir("payguard-bench-prof-");
  const gateway = await startGateway();
  const sink = options.traced ? await startSink() : undefined;
  const config = sink ? [`tracing: { enabled: true, endpoint: "${sink.url}/v1/traces", sampleRatio: 1 }`] : [];
  const payguard = await startPayguard({ name: "payguard (--cpu-prof)", upstreamUrl: gateway.url, cpuProfDir: dir, config });
  console.log(`profiling payguard (pid ${payguard.pid}) into ${dir}`);
  for (const scenario of options.scenarios) {
    if (options.warmup > 0) await load(payguard.url, scenario, { seconds: options.warmup, connections: options.connections });
    const s = await load(payguard.url, scenario, { seconds: options.duration, connections: options.connections });
    console.log(`${scenario.name}: ${s.rps.toFixed(0)} req/s under the profiler, p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} ms`);
  }
  // Writing the profile happens at exit: give the drain and the write time.
  const code = await payguard.stop("SIGTERM", 30_000);
  await gateway.stop();
  await sink?.close();
  if (code !== 0) throw new Error(`payguard exited with ${code} after SIGTERM: no profile written`);
  const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const cpuProfile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  const selfUs = sampledSelfUs(cpuProfile);
  const { hot, totalMs } = selfTimes(cpuProfile, selfUs);
  const idle = hot.filter((h) => h.name === "(idle)").reduce((sum, h) => sum + h.selfMs, 0);
  const busy = totalMs - idle;
  const lines = [
    `CPU profile of payguard: ${options.scenarios.map((s) => s.name).join(" + ")}, ${options.duration} s each at ${options.connections} connections (plus ${options.warmup} s warm-up each, start-up and shutdown)`,
    `${(totalMs / 1000).toFixed(1)} s sampled, ${(idle / 1000).toFixed(1)} s idle; top 25 by self time (% of busy = not idle):`,
    "",
    "| # | self ms | % busy | function | where (native: ← its JS caller) |",
    "|---|---|---|---|---|",
    ...hot
      .slice(0, 25)
      .map((h, i) => `| ${i + 1} | ${h.selfMs.toFixed(0)} | ${h.name === "(idle)" ? "" : ((h.selfMs / busy) * 100).toFixed(1)} | ${h.name} | ${h.where} |`),
  ];
  const byModule = new Map<string, number>();
  for (const h of hot) if (h.name !== "(idle)") byModule.set(moduleOf(h), (byModule.get(moduleOf(h)) ?? 0) + h.selfMs);
  lines.push(
    "",
    "Self time by module (native: V8/libuv builtins, GC, (program)):",
    "",
    "| module | self ms | % busy |",
    "|---|---|---|",
    ...[...byModule]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([module, ms]) => `| ${module} | ${ms.toFixed(0)} | ${((ms / busy) * 100).toFixed(1)} |`),
  );
  lines.push("", ...featureLines(featureTimes(cpuProfile.nodes, selfUs), busy));
  console.log(`\n${lines.join("\n")}`);
  const out = join(dirname(options.out), "PROFILE.md");
  writeFileSync(
    out,
    `# payguard CPU profile\n\nWritten by \`npm run bench -- --profile\` on ${new Date().toISOString()}, node ${process.version}.\n\n${lines.join("\n")}\n`,
  );
  console.log(`\nwrote ${out}`);
}
