/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever
 * commit crosses the threshold: it copies the WAL into the database file and fsyncs it there,
 * on the thread that is answering requests. Here the connection that serves requests never
 * checkpoints; a worker thread with its own connection to the same file does, PASSIVE (it
 * never blocks a writer), every `everyMs`, and a last time when the store closes.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** The worker, as CommonJS source (eval: the same in dist/ and under the test runner). */
const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 1000");
const checkpoint = () => { try { db.pragma("wal_checkpoint(PASSIVE)"); } catch {} };
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.once("message", () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** a last checkpoint, then the worker ends */
  close(): Promise<void>;
}

export function startCheckpointer(path: string, everyMs: number): Checkpointer {
  const module = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(WORKER, { eval: true, workerData: { path, module, everyMs } });
  worker.unref();
  // A failing checkpoint only lets the WAL grow; the serving connection is unaffected.
  worker.on("error", () => {});
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  return {
    async close() {
      worker.postMessage("close");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      await worker.terminate();
    },
  };
}
