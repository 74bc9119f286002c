/**
 * Curve 1: new-key idempotent POSTs (1 KiB JSON, a new Idempotency-Key each) against payguard
 * holding N live records, for growing N, on each store. One payguard per store, with a 24 h
 * TTL so every record stays live; a few records made through payguard itself are the
 * templates the seeder clones at the storage layer; the store grows from one point to the
 * next, so seeding is paid once. Each point's runs alternate with POSTs that skip the store
 * (/v1/passthrough) on the same process: new-key ÷ pass-through at 1M vs 10k is the ratio
 * with the shared machine's drift between the points taken out.
 */
import { startPayguard } from "../targets.js";
import type { Params } from "./args.js";
import { fire } from "./cannon.js";
import { onCleanup } from "./cleanup.js";
import { type Point, points, warmProcess } from "./measure.js";
import { caughtUp } from "./metrics.js";
import { reason, type Section } from "./section.js";
import { growTo } from "./seed/grow.js";
import type { Seeder } from "./seed/seeder.js";
import { freshCharge, JSON_HEADERS, jsonBody, passthroughPost } from "./shots.js";
import { renderStoreSection, type SizePoint } from "./store-size-report.js";
import { type StoreSetup, storeSetup, unavailable } from "./stores.js";

const TEMPLATES = 3;

/** A few keyed POSTs through payguard: the records the seeder clones. */
async function writeTemplates(url: string): Promise<void> {
  for (let i = 0; i < TEMPLATES; i++) {
    const res = await fetch(`${url}/v1/charges`, {
      method: "POST",
      headers: { ...JSON_HEADERS, "idempotency-key": `curves-template-${process.pid}-${Date.now()}-${i}` },
      body: jsonBody(1024),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`template POST ${i}: status ${res.status}`);
  }
}

/** The seeder, once payguard has completed a template (its completion may trail the answer by a commit). */
async function openSeeder(setup: StoreSetup, proc: Parameters<StoreSetup["seeder"]>[0]): Promise<Seeder> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return await setup.seeder(proc);
    } catch (err) {
      if (!reason(err).includes("no completed record") || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function runStore(setup: StoreSetup, params: Params, upstreamUrl: string, results: SizePoint[]): Promise<void> {
  const cleanup = onCleanup(setup.cleanup);
  const proc = await startPayguard({ name: `payguard (${setup.label})`, upstreamUrl, store: setup.yaml, ttl: "24h" });
  let seeder: Seeder | undefined;
  try {
    await writeTemplates(proc.url);
    // The process's first seconds (JIT) would otherwise land on the smallest store; pass-through
    // POSTs, so the warm-up adds no records.
    await warmProcess(proc, passthroughPost(1024), params.loadConnections, params.warmup);
    seeder = await openSeeder(setup, proc);
    const counter = { next: 1 };
    const shots = [freshCharge(1024), passthroughPost(1024)];
    const options = { seconds: params.seconds, connections: params.loadConnections, rounds: params.rounds };
    for (const size of params.sizes) {
      // Warm-up first, then the growth: the measured runs start at `size` records, not above it.
      if (params.warmup > 0) for (const shot of shots) await fire(proc.url, shot, { ...options, seconds: params.warmup });
      console.log(`${setup.label}: growing to ${size} live records …`);
      const growth = await growTo(seeder, size, counter);
      const entries = setup.kind === "sqlite" ? await caughtUp(proc.adminUrl, "payguard_store_entries", growth.after) : undefined;
      const [p, reference] = (await points(proc, shots, { ...options, warmup: 0 })) as [Point, Point];
      const after = await seeder.count();
      results.push({ store: setup.kind, label: setup.label, size, growth, gauge: entries, point: p, reference, after });
      console.log(
        `${setup.label} ${size} records (${growth.after} → ${after}): ${p.rps.toFixed(0)} req/s (pass-through ${reference.rps.toFixed(0)}), p99 ${p.p99.toFixed(2)} ms, CPU ${p.cpuMsPerReq.toFixed(3)} s/1k req`,
      );
    }
  } finally {
    await seeder?.close().catch((err: unknown) => console.error(`${setup.label}: closing the seeder: ${reason(err)}`));
    await proc.stop();
    cleanup();
  }
}

export async function storeSizeCurve(params: Params, upstreamUrl: string): Promise<Section> {
  const started = performance.now();
  const results: SizePoint[] = [];
  const failures: string[] = [];
  const skipped: string[] = [];
  for (const kind of params.stores) {
    const why = await unavailable(kind);
    if (why) {
      console.log(`${why}: the ${kind} store is skipped`);
      skipped.push(`${why}: skipped`);
      continue;
    }
    const setup = storeSetup(kind);
    await runStore(setup, params, upstreamUrl, results).catch((err: unknown) => {
      const message = `${setup.label}: ${reason(err)}`;
      console.error(`store-size curve, ${message}`);
      failures.push(message);
    });
  }
  return renderStoreSection({ points: results, params, failures, skipped, ms: performance.now() - started });
}
