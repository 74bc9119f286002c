/**
 * Tracing off against tracing on (100 % sampled, exported to a sink), one payguard process
 * each, alternating, pass-through GETs at a fixed rate: CPU per GET and the main thread's GC
 * pauses (`--trace-gc`) over the same window. With `--profile`, one more round of each under
 * `--cpu-prof` gives the self time per module, per GET, off against on.
 *
 *   npm run bench:tracing [-- --rate 2000 --seconds 6 --rounds 4 --profile]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { load, median, type Scenario } from "./load.js";
import { moduleTimes } from "./profile.js";
import { cpuSeconds, freePort, payguardYaml, runBench, startGateway, startSink, tempDir } from "./targets.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "6" },
    rounds: { type: "string", default: "4" },
    profile: { type: "boolean", default: false },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const GET: Scenario = { name: "GET pass-through", method: "GET", path: "/v1/balance?expand=available" };

interface Round {
  cpuUs: number;
  scavenges: number;
  scavengeMs: number;
  markCompacts: number;
  markCompactMs: number;
}

/** payguard with `--trace-gc` (its stdout: warnings only, so the GC lines are readable) and any more node flags. */
async function start(upstreamUrl: string, config: string[], nodeArgs: string[]) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = tempDir("payguard-tracing-ab-");
  const file = join(dir, "payguard.yaml");
  const at = { port, adminPort, sqlitePath: join(dir, "payguard.db"), journalDir: join(dir, "journal") };
  writeFileSync(file, payguardYaml({ upstreamUrl, config }, at).replace("log: { level: info }", "log: { level: warn }"));
  const child = spawn(process.execPath, [...nodeArgs, "--trace-gc", "dist/main.js", "serve", "--config", file], { stdio: ["ignore", "pipe", "inherit"] });
  const gc = { text: "" };
  child.stdout.on("data", (chunk: Buffer) => {
    gc.text += chunk.toString();
  });
  for (let i = 0; i < 150; i++) {
    if (
      await fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, gc, url: `http://127.0.0.1:${port}` };
}

/** Main-thread pauses of one kind in `--trace-gc` lines: how many and their ms. */
function pauses(lines: string[], kind: RegExp): { count: number; ms: number } {
  const ms = lines.filter((l) => kind.test(l)).map((l) => Number(/, ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1] ?? 0));
  return { count: ms.length, ms: ms.reduce((a, b) => a + b, 0) };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

/** One warmed-up window of GETs at `rate`: CPU per GET and the GC pauses in it. */
async function round(upstreamUrl: string, config: string[], nodeArgs: string[] = []): Promise<Round> {
  const target = await start(upstreamUrl, config, nodeArgs);
  await load(target.url, GET, { seconds: 2, connections: 10, overallRate: rate });
  const [mark, cpu0] = [target.gc.text.length, cpuSeconds(target.child.pid as number)];
  const sample = await load(target.url, GET, { seconds, connections: 10, overallRate: rate });
  const cpu = cpuSeconds(target.child.pid as number) - cpu0;
  const lines = target.gc.text.slice(mark).split("\n");
  await stop(target.child);
  const scavenge = pauses(lines, /Scavenge/);
  const markCompact = pauses(lines, /Mark-Compact/);
  const requests = sample.rps * seconds;
  return { cpuUs: (cpu * 1e6) / requests, scavenges: scavenge.count, scavengeMs: scavenge.ms, markCompacts: markCompact.count, markCompactMs: markCompact.ms };
}

/** Self µs per GET by module, off and on, from one `--cpu-prof` round of each (warm-up and startup included). */
async function profiled(upstreamUrl: string, variants: Record<string, string[]>): Promise<void> {
  const perModule: Record<string, Map<string, number>> = {};
  for (const [name, config] of Object.entries(variants)) {
    const dir = tempDir(`payguard-tracing-prof-${name}-`);
    await round(upstreamUrl, config, ["--cpu-prof", "--cpu-prof-dir", dir]);
    const file = join(dir, readdirSync(dir).find((f) => f.endsWith(".cpuprofile")) as string);
    perModule[name] = moduleTimes(JSON.parse(readFileSync(file, "utf8")), rate * (seconds + 2));
  }
  const [off, on] = [perModule.off as Map<string, number>, perModule.on as Map<string, number>];
  const rows = [...new Set([...off.keys(), ...on.keys()])].map((m) => ({ m, off: off.get(m) ?? 0, on: on.get(m) ?? 0 }));
  rows.sort((a, b) => Math.abs(b.on - b.off) - Math.abs(a.on - a.off));
  console.log("\nself µs per GET under the profiler (warm-up included), by module: off → on");
  for (const r of rows.slice(0, 25))
    console.log(`${r.m.padEnd(48)} ${r.off.toFixed(1).padStart(7)} ${r.on.toFixed(1).padStart(7)} ${(r.on - r.off).toFixed(1).padStart(7)}`);
}

runBench(async () => {
  const gateway = await startGateway();
  const sink = await startSink();
  const variants: Record<string, string[]> = {
    off: [],
    on: [`tracing: { enabled: true, endpoint: "${sink.url}/v1/traces", sampleRatio: 1 }`],
  };
  const rounds: Record<string, Round[]> = { off: [], on: [] };
  for (let i = 0; i < Number(values.rounds); i++) {
    for (const [name, config] of Object.entries(variants)) {
      const r = await round(gateway.url, config);
      rounds[name]?.push(r);
      console.log(
        `round ${i + 1} ${name}: ${r.cpuUs.toFixed(0)} µs CPU per GET; ${r.scavenges} scavenges ${r.scavengeMs.toFixed(0)} ms, ${r.markCompacts} mark-compacts ${r.markCompactMs.toFixed(0)} ms`,
      );
    }
  }
  const requests = rate * seconds;
  const of = (name: string, pick: (r: Round) => number) => median((rounds[name] ?? []).map(pick));
  for (const name of ["off", "on"]) {
    const gcUs = (of(name, (r) => r.scavengeMs + r.markCompactMs) * 1000) / requests;
    console.log(`${name}: median ${of(name, (r) => r.cpuUs).toFixed(0)} µs CPU per GET, of it ${gcUs.toFixed(1)} µs in main-thread GC pauses`);
  }
  console.log(`on / off: ${(of("on", (r) => r.cpuUs) / of("off", (r) => r.cpuUs)).toFixed(2)} ×`);
  if (values.profile) await profiled(gateway.url, variants);
  await sink.close();
  await gateway.stop();
});
