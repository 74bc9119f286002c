/**
 * Growing a store to a number of live records, in chunks, and checking it got there: the
 * count afterwards, and the first and last new keys looked up by their own value.
 */
import { type Seeder, seedKey } from "./seeder.js";

export interface Growth {
  before: number;
  added: number;
  after: number;
  /** ms spent inserting, and settling afterwards */
  insertMs: number;
  settleMs: number;
}

/** Records that may appear besides the clones: claims still settling from the last load (and SCAN's duplicates while Redis rehashes). */
const slack = (total: number) => Math.max(1_000, total / 100);

export async function growTo(seeder: Seeder, total: number, counter: { next: number }): Promise<Growth> {
  const before = await seeder.count();
  const missing = Math.max(0, total - before);
  const first = counter.next;
  const t0 = performance.now();
  let lastLog = t0;
  for (let added = 0; added < missing; ) {
    const n = Math.min(seeder.chunk, missing - added);
    await seeder.insert(counter.next, n);
    counter.next += n;
    added += n;
    if (performance.now() - lastLog > 10_000 || added === missing) {
      lastLog = performance.now();
      console.log(`  ${seeder.name}: seeded ${added}/${missing} (${((lastLog - t0) / 1000).toFixed(1)} s)`);
    }
  }
  const t1 = performance.now();
  await seeder.settle();
  const settleMs = performance.now() - t1;
  const after = await seeder.count();
  if (after < total || after > before + missing + slack(total))
    throw new Error(`${seeder.name}: ${before} live records + ${missing} clones should be ~${total}, but the store counts ${after}`);
  if (missing > 0) {
    for (const i of [first, counter.next - 1])
      if (!(await seeder.has(seedKey(i)))) throw new Error(`${seeder.name}: seeded key ${seedKey(i)} (#${i}) is not in the store`);
  }
  return { before, added: missing, after, insertMs: t1 - t0, settleMs };
}
