/**
 * Preloaded into payguard under measurement (`node --import bench/alloc-probe.mjs`): V8's
 * sampling heap profiler, counting objects collected since (so it sees every allocation, not
 * only what survives). The first SIGUSR2 starts sampling; the next stops it and writes the
 * profile (JSON) to ALLOC_PROBE_FILE.
 */
import { renameSync, writeFileSync } from "node:fs";
import inspector from "node:inspector";

const file = process.env.ALLOC_PROBE_FILE;
if (!file) throw new Error("alloc-probe: ALLOC_PROBE_FILE is not set");

const session = new inspector.Session();
session.connect();
const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));

let sampling = false;
process.on("SIGUSR2", () => {
  if (!sampling) {
    sampling = true;
    void post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    return;
  }
  sampling = false;
  // Written whole, then renamed: the reader never sees half a file.
  void post("HeapProfiler.stopSampling").then(({ profile }) => {
    writeFileSync(`${file}.part`, JSON.stringify(profile));
    renameSync(`${file}.part`, file);
  });
});
