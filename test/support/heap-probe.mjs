/**
 * Preloaded into a process under measurement (`node --import …/heap-probe.mjs`): counts the
 * bytes its JavaScript allocates on the V8 heap, from V8's own numbers — the heap in use
 * before each collection minus what the collection before it left. On SIGUSR2 it appends
 * the running total to the file named by HEAP_PROBE_FILE, one line each time.
 * Buffers' backing stores live outside the heap and are not counted.
 */
import { appendFileSync } from "node:fs";
import v8 from "node:v8";

const file = process.env.HEAP_PROBE_FILE;
if (!file) throw new Error("heap-probe: HEAP_PROBE_FILE is not set");

let profiler = new v8.GCProfiler();
profiler.start();
let allocated = 0;
let inUse = v8.getHeapStatistics().used_heap_size;

process.on("SIGUSR2", () => {
  const { statistics } = profiler.stop();
  profiler = new v8.GCProfiler();
  profiler.start();
  for (const gc of statistics) {
    allocated += gc.beforeGC.heapStatistics.usedHeapSize - inUse;
    inUse = gc.afterGC.heapStatistics.usedHeapSize;
  }
  const now = v8.getHeapStatistics().used_heap_size;
  allocated += now - inUse;
  inUse = now;
  appendFileSync(file, `${allocated}\n`);
});
