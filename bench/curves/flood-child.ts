/** Starts bench/curves/flood.ts as a child: resolves once it is sending, and gives its result when it is done. */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Run } from "./cannon.js";
import { onCleanup } from "./cleanup.js";

export interface Flood {
  /** the child's autocannon result, once its SECONDS are over */
  result: Promise<Run>;
}

export interface FloodOptions {
  bytes: number;
  connections: number;
  seconds: number;
  /** bodies per second over all connections; 0: back to back */
  rate: number;
}

export async function startFlood(url: string, options: FloodOptions): Promise<Flood> {
  const { bytes, connections, seconds, rate } = options;
  const args = ["--import", "tsx", "bench/curves/flood.ts", url, ...[bytes, connections, seconds, rate].map(String)];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  // It ends by itself after `seconds`; this only matters if the run is stopped before.
  const kill = onCleanup(() => child.kill("SIGKILL"));
  const lines = createInterface({ input: child.stdout });
  let started: () => void = () => {};
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const result = new Promise<Run>((resolve, reject) => {
    let run: Run | undefined;
    lines.on("line", (line) => {
      if (line === "started") started();
      else if (line.startsWith("{")) run = JSON.parse(line) as Run;
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      kill();
      if (run && code === 0) resolve(run);
      else reject(new Error(`flood child exited with ${code}${run ? "" : " before its result"}`));
    });
  });
  // Sending, or the child's failure (a rejection after that is the caller's, from `result`).
  await new Promise<void>((resolve, reject) => {
    running.then(resolve);
    result.catch(reject);
  });
  return { result };
}
