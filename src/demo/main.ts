/**
 * `npm run demo`: the same payments, against the same misbehaving gateway, directly and
 * through payguard — then what the gateway charged against what the clients learned.
 * Everything runs in this process on 127.0.0.1: a simulated gateway, payguard with a SQLite
 * file in a temporary directory, SDK-like clients, and the service's webhook endpoint. Through
 * payguard the gateway also posts each charge's event (late, duplicated, out of order) to
 * payguard's webhook listener, which settles the ledger and delivers them to the service.
 * Exit 0, or 1 when payguard charged a payment twice, delivered an event twice, or left a
 * charged indeterminate payment unsettled by its event.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../config/load.js";
import { createLogger } from "../log.js";
import { startPayguard } from "../server.js";
import { type GatewaySim, type GatewaySimOptions, startGatewaySim } from "../sim/gateway.js";
import type { PaymentOutcome } from "./client.js";
import { type EventsSummary, median, repeatOnce, type Service, startService, waitForSettlement } from "./events.js";
import { type DemoOptions, isUsageError, parseFlags, USAGE } from "./flags.js";
import { progress } from "./progress.js";
import { formatReport, type RunName, type RunSummary, summarize } from "./report.js";
import { runWorkload } from "./workload.js";

/** Where the clients send their payments, and how to stop it afterwards. */
interface Front {
  url: string;
  /** payguard's webhook endpoint, where the gateway posts its events */
  webhookUrl?: string;
  /** after the payments: what the events did (payguard only) */
  audit?(outcomes: readonly PaymentOutcome[], sim: GatewaySim): Promise<EventsSummary>;
  stop(): Promise<void>;
}

/** The gateway's events: the key both sides know, how late (ms after the charge) and how often. */
const WEBHOOK_SECRET = "demo_webhook_signature_key";
const EVENT_DELAY_MS = [200, 2_500] as const;
const EVENT_COPIES = 3;

/**
 * payguard configured as docs/semantics.md says for a gateway without idempotency support: no
 * upstream key (the gateway would ignore it), and the gateway's 503 declared as "nothing
 * processed" so the client's retry is sent afresh. Goes through the real validation.
 */
function payguardConfigYaml(upstreamUrl: string, options: Pick<DemoOptions, "lateMs">, dir: string, service: Service): string {
  // An attempt must outlast a late answer: payguard keeps waiting after the client gave up,
  // stores the answer, and replays it to the client's retry.
  const attemptMs = options.lateMs + 2_000;
  return `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
upstream: { url: "${upstreamUrl}", connections: 256 }
log: { level: error }
shutdown: { readinessDelay: 0ms, drainTimeout: 100ms }
idempotency:
  upstreamKey: false
  notProcessed: [503]
  # the gateway's events name a payment by the request's "payment"
  ledger: { link: /payment }
store: { type: sqlite, path: "${join(dir, "payguard.db")}" }
webhooks:
  host: 127.0.0.1
  port: 0
  delivery: { poll: 100ms }
  endpoints:
    - { gateway: default, scheme: checkout, path: /webhooks/gateway, secret: ${WEBHOOK_SECRET}, deliverTo: "${service.url}" }
resilience:
  timeout: { attempt: ${attemptMs}ms, total: ${attemptMs + 2_000}ms }
  bulkhead: { maxConcurrent: 256 }
  # Sized for a demo that lasts seconds: faults here are independent per request, and a
  # breaker held open for the default 10s would only make the clients wait.
  breaker: { threshold: 20, halfOpenAfter: 1s }
`;
}

async function run(name: RunName, options: DemoOptions, front: (gatewayUrl: string) => Promise<Front>): Promise<RunSummary> {
  const simOptions: Partial<GatewaySimOptions> = { seed: options.seed, faults: options.faults, lateMs: options.lateMs, dedupe: false };
  const webhooks = name === "payguard" ? { webhooks: { secret: WEBHOOK_SECRET, delayMs: EVENT_DELAY_MS, maxCopies: EVENT_COPIES } } : {};
  const sim = await startGatewaySim({ ...simOptions, ...webhooks });
  const via = await front(sim.url);
  if (via.webhookUrl) sim.events?.aim(via.webhookUrl);
  const line = progress(name, options.payments, () => sim.charges.length);
  const started = performance.now();
  let outcomes: Awaited<ReturnType<typeof runWorkload>>;
  let durationMs = 0;
  let events: EventsSummary | undefined;
  try {
    outcomes = await runWorkload({
      baseUrl: via.url,
      payments: options.payments,
      concurrency: options.concurrency,
      client: {
        attemptTimeoutMs: options.clientTimeoutMs,
        maxAttempts: options.attempts,
        backoffInitialMs: 100,
        backoffMaxMs: 1_000,
        retryAfterMaxMs: 5_000,
      },
      onSettled: (done) => line.update(done),
    });
    durationMs = performance.now() - started;
    events = await via.audit?.(outcomes, sim);
  } finally {
    await via.stop();
    // Closing freezes the ledger: an answer still being delayed is cancelled, and a
    // request that had not charged yet never will.
    await sim.close();
  }
  line.finish(outcomes.length);
  return { ...summarize(name, outcomes, sim, durationMs), ...(events ? { events } : {}) };
}

async function main(argv: string[]): Promise<number> {
  const options = readOptions(argv);
  if (typeof options === "number") return options;
  process.stderr.write(describeSetup(options));
  const direct = await run("direct", options, async (url) => ({ url, stop: async () => {} }));
  const guarded = await run("payguard", options, guardedFront(options));
  const problems = problemsOf(direct, guarded);
  process.stdout.write(
    options.json
      ? `${JSON.stringify({ seed: options.seed, options, direct, payguard: guarded, ok: problems.length === 0, problems })}\n`
      : textReport(direct, guarded, problems),
  );
  return problems.length === 0 ? 0 : 1;
}

/** The options, or the exit status when there is nothing to run (usage error 2, --help 0). */
function readOptions(argv: string[]): DemoOptions | number {
  let options: DemoOptions;
  try {
    options = parseFlags(argv);
  } catch (err) {
    if (!isUsageError(err)) throw err;
    process.stderr.write(`demo: ${err.message.split("\n").join("\ndemo: ")}\nRun with --help for the flags.\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  return options;
}

/** The run's setting, for stderr before it starts. */
function describeSetup(options: DemoOptions): string {
  const pct = (rate: number) => `${Number((rate * 100).toFixed(2))} %`;
  const f = options.faults;
  return (
    `payguard demo: ${options.payments} payments, ${options.concurrency} concurrent clients, seed ${options.seed}\n` +
    `  faults per gateway request: late ${pct(f.late)}, reset after charge ${pct(f.resetAfterCharge)}, reset before charge ${pct(f.resetBeforeCharge)}, ` +
    `503 ${pct(f.unavailable)}, 429 ${pct(f.rateLimited)}; late answers after ${options.lateMs} ms\n` +
    `  clients: ${options.attempts} attempts, ${options.clientTimeoutMs} ms timeout each, one Idempotency-Key per payment\n`
  );
}

/** payguard (a SQLite file in a temporary directory) in front of the gateway, stopped by a graceful shutdown. */
function guardedFront(options: DemoOptions): (gatewayUrl: string) => Promise<Front> {
  const logger = createLogger("error", process.stderr);
  return async (url) => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-demo-"));
    const service = await startService();
    let pg: Awaited<ReturnType<typeof startPayguard>>;
    try {
      pg = await startPayguard(parseConfig(payguardConfigYaml(url, options, dir, service), {}, "<demo>"), { logger });
    } catch (err) {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return {
      url: pg.url,
      ...(pg.webhookUrl ? { webhookUrl: `${pg.webhookUrl}/webhooks/gateway` } : {}),
      audit: (outcomes, sim) => auditEvents(outcomes, sim, pg, service),
      stop: async () => {
        await pg.shutdown();
        await service.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

/**
 * Once the gateway's events are all acknowledged: each charged payment payguard flagged
 * indeterminate must be settled by its event, and every event delivered to the service once.
 */
async function auditEvents(
  outcomes: readonly PaymentOutcome[],
  sim: GatewaySim,
  pg: Awaited<ReturnType<typeof startPayguard>>,
  service: Service,
): Promise<EventsSummary> {
  // The gateway posts each copy until answered: all of them within ~3 s of the last charge,
  // unless payguard refuses them (then the audit below says how many were not settled).
  await sim.events?.drain(30_000);
  const charged = sim.chargesByPayment();
  const flagged = outcomes.filter((o) => o.result.kind === "indeterminate" && (charged.get(`${o.payment.authorization} ${o.payment.id}`)?.length ?? 0) > 0);
  const times = [
    ...(
      await waitForSettlement(
        pg.deps.store,
        flagged.map((o) => o.payment.id),
        10_000,
      )
    ).values(),
  ];
  const tally = sim.events?.tally();
  const deadline = performance.now() + 10_000;
  while (service.deliveries.size < (tally?.acknowledged.size ?? 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const counts = [...service.deliveries.values()];
  return {
    events: tally?.events ?? 0,
    posts: tally?.posts ?? 0,
    delivered: counts.reduce((a, b) => a + b, 0),
    deliveredTwice: counts.filter((n) => n > 1).length,
    indeterminateCharged: flagged.length,
    settled: times.length,
    settleMedianMs: median(times),
    settleMaxMs: Math.max(0, ...times),
    lateRepeat: flagged[0] ? await repeatOnce(pg.url, flagged[0].payment) : "—",
  };
}

/** What would make the demo's claim false: a double charge through payguard, a client told of a charge never made. */
function problemsOf(direct: RunSummary, guarded: RunSummary): string[] {
  const problems: string[] = [];
  if (guarded.doubleCharges > 0) {
    problems.push(`payguard let ${guarded.doubleCharges} payment(s) be charged more than once: the demo's claim does not hold.`);
  }
  for (const s of [direct, guarded]) {
    if (s.mismatches > 0) problems.push(`${s.run}: ${s.mismatches} client(s) were told of a charge the gateway never made for their payment.`);
  }
  const events = guarded.events;
  if (events && events.settled < events.indeterminateCharged) {
    problems.push(`${events.indeterminateCharged - events.settled} charged indeterminate payment(s) were not settled by their events.`);
  }
  if (events && events.deliveredTwice > 0) problems.push(`${events.deliveredTwice} event(s) were delivered to the service more than once.`);
  return problems;
}

/** The table of both runs, a note on lost successes, and the verdict. */
function textReport(direct: RunSummary, guarded: RunSummary, problems: string[]): string {
  const notes: string[] = [];
  if (guarded.lostSuccesses > 0) {
    notes.push(
      `  Note: ${guarded.lostSuccesses} payment(s) through payguard were charged on the client's last attempt, which ended before the answer ` +
        "reached it; a later retry with the same key gets the stored answer or outcome_indeterminate, never a second charge.",
    );
  }
  const verdict =
    problems.length === 0
      ? `  ✔ payguard: no payment charged twice (direct: ${direct.doubleCharges} payments, ${direct.extraCharges} extra charges).`
      : problems.map((p) => `  ✘ ${p}`).join("\n");
  return `\n${formatReport(direct, guarded)}\n${notes.length > 0 ? `\n${notes.join("\n")}\n` : ""}\n${verdict}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
