/**
 * The SQLite store's background thread: the work that must not run on the event loop, done
 * by a worker thread with its own connection to the same file.
 *
 * - WAL checkpoints. SQLite's automatic checkpoint runs inside whichever commit crosses the
 *   threshold: it copies the WAL into the database file and fsyncs it there, on the thread
 *   that is answering requests. Here the serving connection never checkpoints; the worker
 *   does, PASSIVE (it never blocks a writer), every `checkpointEveryMs`, and a last time
 *   when the store closes.
 * - The record counts for the metrics. Counting live records scans them all (0.1 s and more
 *   at a million); a /metrics scrape must not stall every request that long. The worker
 *   counts every `countEveryMs` and posts the figures; stats() reads the last ones.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** The worker, as CommonJS source (eval: the same in dist/ and under the test runner). */
const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.path);
// Every statement prepared once and held in this scope until the thread ends: one left to the
// collector can abort the process on Node 24 (driver.ts).
const busy = db.prepare("PRAGMA busy_timeout = 1000");
busy.get();
const walCheckpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
const checkpoint = () => { try { walCheckpoint.get(); } catch {} };
const counts = db.prepare(workerData.countSql);
const count = () => { try { parentPort.postMessage(counts.get(Date.now())); } catch {} };
const timers = [setInterval(checkpoint, workerData.checkpointEveryMs), setInterval(count, workerData.countEveryMs)];
parentPort.once("message", () => {
  for (const timer of timers) clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface Counts {
  entries: number;
  inFlight: number;
}

export interface BackgroundOptions {
  checkpointEveryMs: number;
  countEveryMs: number;
  /** SELECT … AS entries, … AS inFlight, with one parameter: now, epoch ms */
  countSql: string;
  /** called with each count the worker makes */
  onCounts: (counts: Counts) => void;
}

export interface Background {
  /** a last checkpoint, then the worker ends */
  close(): Promise<void>;
}

export function startBackground(path: string, options: BackgroundOptions): Background {
  const module = createRequire(import.meta.url).resolve("better-sqlite3");
  const { checkpointEveryMs, countEveryMs, countSql } = options;
  const worker = new Worker(WORKER, { eval: true, workerData: { path, module, checkpointEveryMs, countEveryMs, countSql } });
  worker.unref();
  // A failing checkpoint only lets the WAL grow, a failing count only leaves the last one; the serving connection is unaffected.
  worker.on("error", () => {});
  worker.on("message", (counts: Counts) => options.onCounts(counts));
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    async close() {
      // Held while closing: an unref'd worker and timer alone would let the process exit (code 13) mid-close.
      worker.ref();
      worker.postMessage("close");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      await worker.terminate();
    },
  };
}
