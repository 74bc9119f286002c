/**
 * A PostgreSQL failover under load: two payguard replicas on a test-owned primary/standby
 * pair (pg_basebackup, synchronous replication — the setting docs/operations.md asks for),
 * clients paying through them in front of a gateway without idempotency. Mid-run the
 * primary dies (immediate shutdown) and the standby is promoted. payguard's part: find the
 * new primary by itself, refuse new keys meanwhile (nothing sent), journal the answers it
 * already has, and lose none — judged by the chaos invariants and the ledger.
 */
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type GatewaySim, startGatewaySim } from "../../src/sim/gateway.js";
import { startPostgres, startStandby, type TestPostgres } from "../support/postgres-server.js";
import { type PaymentResult, planPayments, runClients, type Target } from "./client.js";
import { type Cluster, type StoreServer, startCluster } from "./cluster.js";
import { formatFigures } from "./figures.js";
import { checkInvariants, describeBreaches } from "./invariants.js";
import { completedRows, verifyOutcomes } from "./verify.js";

const PAYMENTS = Number(process.env.FAILOVER_PAYMENTS ?? 1000);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASE = `CHAOS_SEED=${SEED} FAILOVER_PAYMENTS=${PAYMENTS}`;
const TOTAL_TIMEOUT_MS = 3_000;

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe("chaos: a PostgreSQL primary/standby failover under load", () => {
  let sim: GatewaySim | undefined;
  let cluster: Cluster | undefined;
  const servers: TestPostgres[] = [];
  afterAll(async () => {
    await cluster?.close();
    await sim?.close();
    for (const db of servers) await db.stop("immediate").catch(() => {});
  });

  it(`${PAYMENTS} payments, the primary killed and the standby promoted mid-run: no double charge, no lost answer`, { timeout: 120_000 }, async () => {
    const started = performance.now();
    const primary = await startPostgres();
    servers.push(primary);
    const standby = await startStandby(primary);
    servers.push(standby);
    // Synchronous replication, set once the standby streams: a COMMIT returns when the standby has it.
    await sql(primary.url, "ALTER SYSTEM SET synchronous_standby_names = '*'");
    await sql(primary.url, "SELECT pg_reload_conf()");
    const store: StoreServer = {
      kind: "postgres",
      url: standby.url,
      yaml: `type: postgres\n  postgres: { schema: chaos, nodes: ["${primary.url}", "${standby.url}"] }`,
      stop: async () => {},
      start: async () => {},
    };
    sim = await startGatewaySim({ seed: SEED, faults: {}, lateMs: 0, dedupe: false });
    cluster = await startCluster({
      gatewayUrl: sim.url,
      leaseMs: 1_500,
      attemptTimeoutMs: 2_000,
      totalTimeoutMs: TOTAL_TIMEOUT_MS,
      maxWaitMs: 1_000,
      onUnavailable: "reject",
      store,
    });
    const { replicas } = cluster;
    const targets = (): Target[] => replicas.map((r) => ({ name: r.name, url: r.url, epoch: r.epoch }));
    const events: string[] = [];
    const t = () => `${((performance.now() - started) / 1000).toFixed(1)}s`;

    let failover: Promise<void> | undefined;
    let failedAt = 0;
    let promotedAt = Number.POSITIVE_INFINITY;
    const results: PaymentResult[] = await runClients(planPayments(PAYMENTS, 20), {
      concurrency: 16,
      maxAttempts: 12,
      timeoutMs: 2_000,
      maxRetryAfterMs: 1_000,
      targets,
      onProgress: (done) => {
        if (done !== Math.ceil(PAYMENTS * 0.4)) return;
        events.push(`${t()} primary killed`);
        failedAt = performance.now();
        // pg_ctl runs beside the clients (not spawnSync): the load goes on through the failover.
        failover = primary.stop("immediate").then(async () => {
          await standby.promote();
          promotedAt = performance.now();
          events.push(`${t()} standby promoted`);
        });
      },
    });
    if (!failover) throw new Error(`${CASE}: the failover did not happen`);
    await failover;
    await sleep(TOTAL_TIMEOUT_MS + 500);
    await cluster.settle(15_000);

    const charges = [...sim.charges];
    const metrics = await cluster.metrics();
    const verification = await verifyOutcomes(results, charges, targets);
    const ledger = await completedRows(standby.url, "chaos");
    events.push(`ledger on the promoted standby: ${ledger.length} completed rows`);
    const verdict = checkInvariants({
      results,
      charges,
      verification,
      chargedByVerification: sim.charges.slice(charges.length),
      kill: { process: "none", killedAt: failedAt, beforeMs: 0, logged: new Set() },
      ledger,
    });
    console.log(
      formatFigures({
        seed: SEED,
        results,
        sim,
        metrics,
        verified: verification.size,
        killedAt: failedAt,
        verdict,
        durations: { total: performance.now() - started },
        events,
      }),
    );
    // Not vacuous: payguard saw the primary go (store errors: a failed operation, or a failed health
    // check when no request touched the store in the gap), and payments went through after the promotion.
    const storeErrors = metrics.flatMap((text) => text.split("\n").filter((l) => l.startsWith("payguard_store_errors_total{")));
    expect(
      storeErrors.reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0),
      `${CASE}: the failover bit (${storeErrors.join(", ") || "no store error on any replica"})`,
    ).toBeGreaterThan(0);
    expect(results.filter((r) => r.outcome === "success").length, CASE).toBeGreaterThan(PAYMENTS * 0.9);
    expect(charges.filter((c) => c.at > promotedAt).length, `${CASE}: payments charged on the promoted primary`).toBeGreaterThan(PAYMENTS * 0.3);
    expect(describeBreaches(verdict.breaches), CASE).toBe("");
  });
});
