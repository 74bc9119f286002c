/**
 * What one new key writes to the SQLite file: WAL frames (pages) and write syscalls for its
 * claim and for its completion with a ledger row, one key at a time (no group commit sharing
 * pages between keys), after a warm-up that gives the B-trees some depth.
 *
 *   node --import tsx bench/sqlite-pages.ts [-- --keys 2000]
 */
import { randomUUID } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openSqliteStore } from "../src/store/sqlite/store.js";
import { runBench, tempDir } from "./targets.js";

const { values } = parseArgs({ options: { keys: { type: "string", default: "2000" } } });
const KEYS = Number(values.keys);

const writes = () => Number(/syscw: (\d+)/.exec(readFileSync("/proc/self/io", "utf8"))?.[1] ?? Number.NaN);
const body = Buffer.from(JSON.stringify({ id: "ch_x", object: "charge", amount: 1999, currency: "eur", description: "x".repeat(900) }));

async function main(): Promise<void> {
  const path = join(tempDir("payguard-pages-"), "payguard.db");
  const store = openSqliteStore({ path, synchronous: "normal", ledgerRetentionMs: 86_400_000, onWritable: () => {} });
  const wal = () => {
    try {
      return statSync(`${path}-wal`).size;
    } catch {
      return 0;
    }
  };
  const pageSize = 4096 + 24;
  const one = async () => {
    const key = `default:${randomUUID()}`;
    const token = randomUUID();
    const [w0, f0] = [writes(), wal()];
    await store.claim(key, { token, fingerprint: "f".repeat(43), leaseMs: 10_000, ttlMs: 600_000 });
    const [w1, f1] = [writes(), wal()];
    const now = Date.now();
    const record = {
      state: "completed" as const,
      fingerprint: "f".repeat(43),
      createdAt: now,
      completedAt: now,
      attempts: 1,
      response: { status: 200, headers: { "content-type": "application/json", "request-id": "req_1" }, body },
    };
    const entry = {
      record: key,
      gateway: "default",
      route: "default",
      method: "POST",
      path: "/v1/charges",
      state: "completed" as const,
      status: 200,
      attempts: 1,
      gatewayRequestId: `req_${token.slice(0, 8)}`,
      startedAt: now,
      settledAt: now,
      replica: "bench",
      link: randomUUID(),
    };
    await store.complete(key, token, record, 600_000, entry);
    const [w2, f2] = [writes(), wal()];
    return { claimWrites: w1 - w0, completeWrites: w2 - w1, claimPages: (f1 - f0) / pageSize, completePages: (f2 - f1) / pageSize };
  };
  for (let i = 0; i < KEYS; i++) await one();
  const samples: Awaited<ReturnType<typeof one>>[] = [];
  for (let i = 0; i < 200; i++) samples.push(await one());
  const mean = (pick: (s: (typeof samples)[number]) => number) => (samples.reduce((a, s) => a + pick(s), 0) / samples.length).toFixed(1);
  console.log(
    `after ${KEYS} keys, one key at a time (200 measured): claim ${mean((s) => s.claimWrites)} writes / ${mean((s) => s.claimPages)} WAL frames; complete + ledger row ${mean((s) => s.completeWrites)} writes / ${mean((s) => s.completePages)} WAL frames`,
  );
  await store.close();
}

runBench(main);
