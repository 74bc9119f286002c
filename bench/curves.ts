/**
 * `npm run bench:curves`: three cost curves of payguard, each its own section of
 * bench/CURVES.md with a PNG chart —
 *
 *   store        new-key POST throughput vs live records in the store (SQLite, Redis, PostgreSQL)
 *   body         new-key POST throughput vs request body size, and the stall test: small GETs' latency
 *                while 1 MiB bodies arrive at --flood-rate per second, through payguard and straight to
 *                the gateway
 *   connections  GET pass-through with many concurrent keep-alive connections, payguard vs the Node floor
 *
 *   npm run bench:curves -- --out /tmp/curves --only store --seconds 2 --rounds 1 --sizes 1000,5000,20000
 *
 * Every process it starts is stopped on exit (killAll), the store data it made is removed;
 * a failure is reported in its section and makes the run exit 1.
 */

import { type CurveName, type Params, parseParams } from "./curves/args.js";
import { bodySizeCurve } from "./curves/body-size.js";
import { cleanupAll } from "./curves/cleanup.js";
import { connectionsCurve } from "./curves/connections.js";
import type { Section } from "./curves/section.js";
import { storeSizeCurve } from "./curves/store-size.js";
import { printSection, writeReport } from "./curves/write.js";
import { killAll, startGateway } from "./targets.js";

function paramsOrExit(): Params {
  try {
    return parseParams(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
}

const params = paramsOrExit();

function stopEverything(): void {
  killAll();
  cleanupAll();
}

process.on("exit", stopEverything);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every child`);
    stopEverything();
    process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
  });

const curves: Record<CurveName, (params: Params, upstreamUrl: string) => Promise<Section>> = {
  store: storeSizeCurve,
  body: bodySizeCurve,
  connections: connectionsCurve,
};

async function main(): Promise<number> {
  const started = performance.now();
  const gateway = await startGateway();
  const sections: Section[] = [];
  for (const name of params.only) {
    console.log(`\n=== ${name} curve ===`);
    const section = await curves[name](params, gateway.url);
    printSection(section);
    sections.push(section);
  }
  await gateway.stop();
  const file = await writeReport(sections, params, performance.now() - started);
  const failed = sections.flatMap((s) => s.failures);
  console.log(`wrote ${file}; took ${((performance.now() - started) / 1000).toFixed(0)} s${failed.length ? `; ${failed.length} failure(s)` : ""}`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    stopEverything();
    process.exit(1);
  },
);
