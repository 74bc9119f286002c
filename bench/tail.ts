/**
 * Where a new-key POST's slow requests spend their time at a fixed, evenly paced rate: the
 * client's latency distribution against the gateway's own (direct), and from payguard's
 * /metrics over the same window — its request and upstream-attempt durations, each store
 * operation's, the event loop's delay (prom-client's monitorEventLoopDelay, reset at each
 * scrape) and the garbage collector's pauses — on the memory, SQLite and PostgreSQL stores.
 *
 *   npm run bench:tail [-- --rate 1000 --seconds 10 --rounds 3]
 *
 * Prints a table per store and writes nothing: a study, for bench/TAIL.md.
 */
import { parseArgs } from "node:util";
import { paced, type Scenario } from "./load.js";
import { dropPostgresSchema, type PayguardProc, type Proc, runBench, startGateway, startPayguard } from "./targets.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "10" },
    stores: { type: "string", default: "memory,sqlite,postgres" },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);

const body1k = JSON.stringify({ amount: 1999, currency: "eur", description: "x".repeat(1024 - 60) });
const json = { "content-type": "application/json", authorization: "Bearer sk_test_bench" };
const fresh: Scenario = { name: "POST 1 KB, new key each", method: "POST", path: "/v1/charges", headers: json, body: body1k, key: "fresh" };
const postOff: Scenario = { name: "POST 1 KB", method: "POST", path: "/v1/passthrough", headers: json, body: body1k };

/** Prometheus text → samples by full series name (name{labels}). */
async function scrape(adminUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const cut = line.lastIndexOf(" ");
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

/** A histogram's bucket counts in the window (after − before), summed over the series whose labels match. */
function window(before: Map<string, number>, after: Map<string, number>, name: string, match: (labels: string) => boolean) {
  const buckets = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const [series, value] of after) {
    const delta = value - (before.get(series) ?? 0);
    const labels = series.slice(series.indexOf("{") + 1, -1);
    if (series.startsWith(`${name}_bucket{`) && match(labels)) {
      const le = /le="([^"]+)"/.exec(labels)?.[1] ?? "+Inf";
      const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + delta);
    } else if (series.startsWith(`${name}_count`) && match(labels)) count += delta;
    else if (series.startsWith(`${name}_sum`) && match(labels)) sum += delta;
  }
  return { buckets, count, sum };
}

/** The bucket bound holding the p-th percentile (ms), from cumulative buckets. */
function bucketPercentile({ buckets, count }: ReturnType<typeof window>, p: number): string {
  if (count === 0) return "—";
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  for (const bound of bounds) if ((buckets.get(bound) ?? 0) >= (p / 100) * count) return bound === Number.POSITIVE_INFINITY ? "> max" : `≤ ${bound * 1000} ms`;
  return "—";
}

interface Round {
  client: Awaited<ReturnType<typeof paced>>;
  before: Map<string, number>;
  after: Map<string, number>;
}

async function study(target: PayguardProc | Proc, scenario: Scenario): Promise<Round[]> {
  await paced(target.url, scenario, RATE, 2, CONNECTIONS); // warm-up
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const admin = "adminUrl" in target ? target.adminUrl : undefined;
    const before = admin ? await scrape(admin) : new Map<string, number>();
    const client = await paced(target.url, scenario, RATE, SECONDS, CONNECTIONS);
    const after = admin ? await scrape(admin) : new Map<string, number>();
    rounds.push({ client, before, after });
  }
  return rounds;
}

function describe(name: string, rounds: Round[], direct: Round[]): string {
  const lines = [
    `\n## ${name}`,
    "",
    "| round | client p50 | p99 | p99.9 | direct p99 | added p99 | payguard request p99 | upstream attempt p99 | event-loop delay p99 / max | GC by kind: count, total, p99 | store ops p99 |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  rounds.forEach((r, i) => {
    const d = direct[i]?.client ?? direct[0]?.client;
    const request = window(r.before, r.after, "payguard_request_duration_seconds", (l) => l.includes('method="POST"'));
    const attempt = window(r.before, r.after, "payguard_upstream_attempt_duration_seconds", () => true);
    const lag = (q: string) => ((r.after.get(`nodejs_eventloop_lag_${q}_seconds`) ?? Number.NaN) * 1000).toFixed(1);
    const gc = ["minor", "major", "incremental", "weakcb"]
      .map((kind) => {
        const w = window(r.before, r.after, "nodejs_gc_duration_seconds", (l) => l.includes(`kind="${kind}"`));
        return w.count > 0 ? `${kind} ${w.count}× ${(w.sum * 1000).toFixed(0)} ms (p99 ${bucketPercentile(w, 99)})` : "";
      })
      .filter(Boolean)
      .join("; ");
    const ops = ["claim", "complete", "get", "release"]
      .map((op) => [op, window(r.before, r.after, "payguard_store_operation_duration_seconds", (l) => l.includes(`op="${op}"`))] as const)
      .filter(([, w]) => w.count > 0)
      .map(([op, w]) => `${op} ${bucketPercentile(w, 99)}`)
      .join(", ");
    lines.push(
      `| ${i + 1} | ${r.client.p50.toFixed(2)} | ${r.client.p99.toFixed(2)} | ${r.client.p999.toFixed(2)} | ${d?.p99.toFixed(2)} | ${((r.client.p99 ?? 0) - (d?.p99 ?? 0)).toFixed(2)} | ${bucketPercentile(request, 99)} | ${bucketPercentile(attempt, 99)} | ${lag("p99")} / ${lag("max")} ms | ${gc} | ${ops || "—"} |`,
    );
  });
  return lines.join("\n");
}

async function main(): Promise<void> {
  const stores = values.stores.split(",");
  const gateway = await startGateway();
  const postgresUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const schema = `bench_tail_${process.pid}`;
  const targets: [string, PayguardProc][] = [];
  for (const store of stores) {
    const section = {
      memory: undefined,
      sqlite: "type: sqlite",
      postgres: `type: postgres, url: "${postgresUrl}", postgres: { schema: ${schema} }, operationTimeout: 2s`,
    }[store];
    targets.push([store, await startPayguard({ name: `payguard (${store})`, upstreamUrl: gateway.url, ...(section ? { store: section } : {}) })]);
  }
  console.log(`# Paced new-key POSTs: ${RATE} req/s, ${SECONDS} s × ${ROUNDS} rounds, ${CONNECTIONS} connections; ms`);
  const direct = await study(gateway, postOff);
  for (const [store, target] of targets) console.log(describe(`payguard, ${store} store`, await study(target, fresh), direct));
  await Promise.all([gateway.stop(), ...targets.map(([, t]) => t.stop())]);
  if (stores.includes("postgres")) dropPostgresSchema(postgresUrl, schema);
}

runBench(main);
