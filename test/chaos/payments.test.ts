/**
 * Chaos: thousands of payments from concurrent clients through two payguard replicas that
 * share one store (Redis, then PostgreSQL), in front of a gateway WITHOUT idempotency (every
 * request that reaches its charge step charges: payguard alone stands between a retry and a
 * double charge). The gateway injects faults per request; clients time out and retry on
 * either replica; one replica is SIGKILLed and restarted, the store is stopped and
 * restarted. Then every outcome is re-asked and the invariants are checked by payment id
 * (./invariants.ts); on PostgreSQL the outcome ledger is held against the gateway's charges.
 *
 * CHAOS_PAYMENTS (default 2000; 10000 for a long local run), CHAOS_SEED (fault draws),
 * CHAOS_STORE (redis,postgres: both, the default; or one of them), CHAOS_ON_UNAVAILABLE
 * (reject, the default; or local: then with the upstream key on, in front of a gateway that
 * dedupes — see cluster.ts). Every failure message names the seed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { type GatewaySim, startGatewaySim } from "../../src/sim/gateway.js";
import { sample } from "../support/metrics.js";
import { type PaymentResult, planPayments, runClients, type Target } from "./client.js";
import { type ChaosStore, type Cluster, startCluster } from "./cluster.js";
import { formatFigures } from "./figures.js";
import { checkInvariants, describeBreaches } from "./invariants.js";
import { completedRows, verifyOutcomes } from "./verify.js";

const PAYMENTS = Number(process.env.CHAOS_PAYMENTS ?? 2000);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ON_UNAVAILABLE = process.env.CHAOS_ON_UNAVAILABLE === "local" ? "local" : "reject";
const STORES = (process.env.CHAOS_STORE ?? "redis,postgres").split(",") as ChaosStore[];

/** The gateway answers "late" this long after charging: past the client timeout, inside payguard's attempt timeout. */
const LATE_MS = 700;
const CLIENT_TIMEOUT_MS = 400;
const ATTEMPT_TIMEOUT_MS = 2_000;
const TOTAL_TIMEOUT_MS = 3_000;
const LEASE_MS = 1_500;

describe.each(STORES)(`chaos: two replicas, one %s, onUnavailable ${ON_UNAVAILABLE}`, (store) => {
  /** What every failure message starts with: enough to run this very case again. */
  const CASE = `CHAOS_SEED=${SEED} CHAOS_PAYMENTS=${PAYMENTS} CHAOS_STORE=${store} CHAOS_ON_UNAVAILABLE=${ON_UNAVAILABLE}`;
  let sim: GatewaySim | undefined;
  let cluster: Cluster | undefined;
  afterAll(async () => {
    await cluster?.close();
    await sim?.close();
  });

  it(`${PAYMENTS} payments with faults, client retries, a replica SIGKILL and a store restart: no double charge, nothing lost`, {
    timeout: 60_000 + PAYMENTS * 15,
  }, async () => {
    const started = performance.now();
    sim = await startGatewaySim({
      seed: SEED,
      faults: { late: 0.03, resetAfterCharge: 0.02, resetBeforeCharge: 0.02, unavailable: 0.03, rateLimited: 0.02 },
      lateMs: LATE_MS,
      dedupe: ON_UNAVAILABLE === "local",
    });
    cluster = await startCluster({
      gatewayUrl: sim.url,
      leaseMs: LEASE_MS,
      attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
      totalTimeoutMs: TOTAL_TIMEOUT_MS,
      maxWaitMs: 1_000,
      onUnavailable: ON_UNAVAILABLE,
      store,
    });
    const { replicas } = cluster;
    const victim = replicas[0] as (typeof replicas)[number];
    const targets = (): Target[] => replicas.map((r) => ({ name: r.name, url: r.url, epoch: r.epoch }));
    const events: string[] = [];
    const t = () => `${((performance.now() - started) / 1000).toFixed(1)}s`;

    // The load, with the two events fired at 30 % and 60 % of the payments answered.
    const plans = planPayments(PAYMENTS, 20);
    let kill: Promise<{ killedAt: number }> | undefined;
    let storeRestart: Promise<unknown> | undefined;
    const loadStarted = performance.now();
    const results: PaymentResult[] = await runClients(plans, {
      concurrency: 32,
      maxAttempts: 8,
      timeoutMs: CLIENT_TIMEOUT_MS,
      maxRetryAfterMs: 1_000,
      targets,
      onProgress: (done) => {
        if (done === Math.ceil(PAYMENTS * 0.3)) {
          events.push(`${t()} SIGKILL replica ${victim.name}`);
          kill = (cluster as Cluster).killAndRestart(victim, 1_000).then((r) => {
            events.push(`${t()} ${victim.name} restarted`);
            return r;
          });
        }
        if (done === Math.ceil(PAYMENTS * 0.6)) {
          events.push(`${t()} ${store} stopped`);
          storeRestart = (cluster as Cluster).restartStore(1_000).then(() => events.push(`${t()} ${store} restarted`));
        }
      },
    });
    const loadMs = performance.now() - loadStarted;
    if (!kill || !storeRestart) throw new Error(`${CASE}: the chaos events did not fire`);
    const { killedAt } = await kill;
    await storeRestart;

    // Let the last upstream calls end and every journal be written back to the store.
    const settleStarted = performance.now();
    await sleep(TOTAL_TIMEOUT_MS + 500);
    await cluster.settle(15_000).catch((err: unknown) => {
      throw new Error(`${CASE}: ${(err as Error).message}`);
    });
    const settleMs = performance.now() - settleStarted;

    // Verification: re-ask every payment that has an outcome to compare with — a charge the
    // gateway answered, a 2xx or an indeterminate given to its client. Nothing may reach the
    // gateway any more; each must be answered from the store.
    const verifyStarted = performance.now();
    const chargesAfterLoad = [...sim.charges];
    const metricsAfterLoad = [...replicas.flatMap((r) => r.lastMetrics), ...(await cluster.metrics())];
    const verification = await verifyOutcomes(results, chargesAfterLoad, targets);
    const verifyMs = performance.now() - verifyStarted;

    // The killed process's access log: requests it answered, hence settled, before dying.
    const logged = new Set<string>();
    for (const line of victim.logs[0] ?? []) {
      const entry = JSON.parse(line) as { msg?: string; reqId?: string };
      if (entry.msg === "request" && entry.reqId) logged.add(entry.reqId);
    }
    const ledger = store === "postgres" ? await completedRows(cluster.store.url, "chaos") : undefined;
    if (ledger) events.push(`ledger: ${ledger.length} completed rows`);
    const verdict = checkInvariants({
      results,
      charges: chargesAfterLoad,
      verification,
      chargedByVerification: sim.charges.slice(chargesAfterLoad.length),
      kill: { process: `${victim.name}0`, killedAt, beforeMs: TOTAL_TIMEOUT_MS + 500, logged },
      ...(ledger ? { ledger } : {}),
    });

    console.log(
      formatFigures({
        seed: SEED,
        results,
        sim,
        metrics: metricsAfterLoad,
        verified: verification.size,
        killedAt,
        verdict,
        durations: { load: loadMs, settle: settleMs, verify: verifyMs, total: performance.now() - started },
        events,
      }),
    );
    // Not vacuous: every payment was sent, most went through, and both events bit.
    expect(results, CASE).toHaveLength(PAYMENTS);
    expect(results.filter((r) => r.outcome === "success").length, CASE).toBeGreaterThan(PAYMENTS / 2);
    const answers = results.flatMap((r) => r.attempts);
    expect(
      answers.some((a) => a.error === "refused" && a.replica === victim.name),
      `${CASE}: the SIGKILL bit`,
    ).toBe(true);
    if (ON_UNAVAILABLE === "reject")
      expect(
        answers.some((a) => a.code === "store_unavailable"),
        `${CASE}: the store stop bit`,
      ).toBe(true);
    else
      expect(
        metricsAfterLoad.some((text) => sample(text, "payguard_store_fallbacks_total") > 0),
        `${CASE}: the store stop bit`,
      ).toBe(true);
    if (ledger) expect(ledger.length, `${CASE}: the ledger has the run's payments`).toBeGreaterThan(PAYMENTS / 2);
    expect(describeBreaches(verdict.breaches), CASE).toBe("");
  });
});
