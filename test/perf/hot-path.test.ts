/**
 * The hot path's cost, guarded where it can be counted rather than timed: the socket writes
 * per answer, and the bytes of JavaScript heap allocated per pass-through request.
 * (Throughput and CPU are the benchmark's, bench/: timings in tests would be flaky.)
 */
import { rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, patternBytes, startFakeGateway, steps } from "../support/fake-gateway.js";
import { HEAP_PROBE, heapAllocated } from "../support/heap.js";
import { type Child, type Running, startChild, startInProcess, testConfigYaml, writeTempConfig } from "../support/payguard.js";

let gw: FakeGateway;
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterAll(() => gw.close());

/** Counts the writes payguard makes to each client socket (each is one write or writev syscall). */
function countWrites(pg: Running): { writes: () => number; reset: () => void } {
  let writes = 0;
  pg.pg.proxyServer.on("connection", (socket: Socket) => {
    const raw = socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const write = raw._write;
    const writev = raw._writev;
    raw._write = function (this: Socket, ...args: unknown[]) {
      writes++;
      return write.apply(this, args);
    };
    raw._writev = function (this: Socket, ...args: unknown[]) {
      writes++;
      return writev.apply(this, args);
    };
  });
  return {
    writes: () => writes,
    reset: () => {
      writes = 0;
    },
  };
}

describe("socket writes per answer", () => {
  let pg: Running;
  let counter: ReturnType<typeof countWrites>;
  let client: Pool;
  beforeAll(async () => {
    pg = await startInProcess(gw.url);
    counter = countWrites(pg);
    client = new Pool(pg.url, { connections: 1 });
  });
  afterAll(async () => {
    await client.close();
    await pg.close();
  });

  async function writesFor(options: Parameters<Pool["request"]>[0]): Promise<{ writes: number; status: number; bytes: number }> {
    counter.reset();
    const res = await client.request(options);
    const body = Buffer.from(await res.body.arrayBuffer());
    return { writes: counter.writes(), status: res.statusCode, bytes: body.length };
  }

  it("a small pass-through answer of declared length is one write, headers and body together", async () => {
    gw.setDefault(steps.json(200, { id: "bal", available: [{ amount: 1, currency: "eur" }] }));
    await writesFor({ method: "GET", path: "/v1/balance" }); // the connection is open from here on
    expect(await writesFor({ method: "GET", path: "/v1/balance" })).toMatchObject({ writes: 1, status: 200 });
  });

  it("even when the gateway sends it in pieces (headers first, then the body in four chunks)", async () => {
    gw.setDefault({ status: 200, headers: { "content-length": "4096" }, streamBytes: 4096, chunkBytes: 1024, chunkDelayMs: 5 });
    expect(await writesFor({ method: "GET", path: "/v1/balance" })).toMatchObject({ writes: 1, status: 200, bytes: 4096 });
  });

  it("a first keyed answer and its replay are one write each", async () => {
    gw.setDefault(steps.json(200, { id: "ch_1", object: "charge" }));
    const keyed = { method: "POST" as const, path: "/v1/charges", headers: { "idempotency-key": "writes-1", "content-type": "application/json" }, body: "{}" };
    expect(await writesFor(keyed)).toMatchObject({ writes: 1, status: 200 });
    expect(await writesFor(keyed)).toMatchObject({ writes: 1, status: 200 });
  });

  it("a large answer is still streamed, not held whole", async () => {
    gw.setDefault({ status: 200, body: patternBytes(256 * 1024), headers: { "content-type": "application/octet-stream" } });
    const big = await writesFor({ method: "GET", path: "/v1/files/big" });
    expect(big).toMatchObject({ status: 200, bytes: 256 * 1024 });
    expect(big.writes).toBeGreaterThan(1);
  });
});

/**
 * The guard: today's 50–53 kB per pass-through GET on Node 20 and ~55 kB on Node 24, plus
 * about 15 %. The goal is 15 kB (bench/ reports it as not met; docs/performance.md shows
 * where the bytes go). Lower this as the hot path sheds allocations; never raise it to let
 * a change through.
 */
const MAX_BYTES_PER_REQUEST = 64_000;

describe("heap allocated per pass-through request", () => {
  let child: Child;
  const probeFile = join(tmpdir(), `payguard-heap-${process.pid}.txt`);
  beforeAll(async () => {
    gw.setDefault(steps.json(200, { id: "bal", object: "balance", available: [{ amount: 1999, currency: "eur" }] }, { "request-id": "req_1" }));
    const config = writeTempConfig(testConfigYaml(gw.url));
    child = await startChild(config, { HEAP_PROBE_FILE: probeFile }, ["--import", HEAP_PROBE]);
  });
  afterAll(async () => {
    child.proc.kill("SIGTERM");
    await child.exited;
    rmSync(probeFile, { force: true });
  });

  it(`stays within ${MAX_BYTES_PER_REQUEST} bytes (V8's own heap figures)`, async () => {
    const pool = new Pool(child.url, { connections: 8 });
    const run = async (n: number) => {
      const one = async () => {
        const res = await pool.request({ method: "GET", path: "/v1/balance?expand=available" });
        await res.body.dump();
        expect(res.statusCode).toBe(200);
      };
      for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: 8 }, one));
    };
    try {
      await run(2_000); // warm-up: JIT, pools, lazily built metrics series
      const before = await heapAllocated(child.proc.pid as number, probeFile);
      await run(4_000);
      const after = await heapAllocated(child.proc.pid as number, probeFile);
      const perRequest = (after - before) / 4_000;
      console.log(`heap allocated per pass-through GET: ${perRequest.toFixed(0)} bytes`);
      expect(perRequest).toBeGreaterThan(1_000); // the probe counts something
      expect(perRequest).toBeLessThanOrEqual(MAX_BYTES_PER_REQUEST);
    } finally {
      await pool.close();
    }
  });
});
