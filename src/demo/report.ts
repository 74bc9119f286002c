/**
 * The audit of one run — what the clients learned, checked against the gateway's charge
 * ledger — and the side-by-side table. Pure: no I/O.
 */
import { FAULTS, type Fault, type GatewaySim } from "../sim/gateway.js";
import type { PaymentOutcome } from "./client.js";
import type { EventsSummary } from "./events.js";

export type RunName = "direct" | "payguard";

export interface RunSummary {
  run: RunName;
  payments: number;
  /** faults the gateway injected, by kind (drawn per arrival: totals depend on how many arrivals timing made) */
  faults: Record<Fault, number>;
  /** per "tenant payment", the fault each arrival met: the same seed gives the same schedule */
  schedule: Record<string, (Fault | "none")[]>;
  faultsTotal: number;
  /** requests the clients sent, and retries = attempts − payments */
  attempts: number;
  clientRetries: number;
  /** payments whose answer carried Idempotent-Replayed: true */
  replays: number;
  /** payment requests that reached the gateway */
  gatewayRequests: number;
  charges: number;
  /** payments charged more than once, and the charges beyond the first */
  doubleCharges: number;
  extraCharges: number;
  /** charged, but the client's final result is an error (not a flagged indeterminate) */
  lostSuccesses: number;
  /** payguard's outcome_indeterminate: flagged for reconciliation; how many were charged */
  indeterminate: number;
  indeterminateCharged: number;
  succeeded: number;
  /** not charged, and the client got a final error or gave up */
  failed: number;
  /** successes whose charge id the gateway never made for that payment */
  mismatches: number;
  durationMs: number;
  /** through payguard: what the gateway's webhook events settled and delivered */
  events?: EventsSummary;
}

/** Audits one run against the ledger of the gateway it ran against. */
export function summarize(run: RunName, outcomes: readonly PaymentOutcome[], sim: GatewaySim, durationMs: number): RunSummary {
  const ledger = sim.chargesByPayment();
  const s: RunSummary = {
    run,
    payments: outcomes.length,
    faults: { ...sim.faults },
    schedule: sim.schedule(),
    faultsTotal: FAULTS.reduce((sum, f) => sum + sim.faults[f], 0),
    attempts: 0,
    clientRetries: 0,
    replays: 0,
    gatewayRequests: sim.arrivals,
    charges: sim.charges.length,
    doubleCharges: 0,
    extraCharges: 0,
    lostSuccesses: 0,
    indeterminate: 0,
    indeterminateCharged: 0,
    succeeded: 0,
    failed: 0,
    mismatches: 0,
    durationMs,
  };
  for (const { payment, attempts, replayed, result } of outcomes) {
    // The sim identifies a payment by its tenant (Authorization) and payment id.
    const charges = ledger.get(`${payment.authorization} ${payment.id}`) ?? [];
    s.attempts += attempts;
    if (replayed) s.replays++;
    if (charges.length > 1) {
      s.doubleCharges++;
      s.extraCharges += charges.length - 1;
    }
    switch (result.kind) {
      case "succeeded":
        s.succeeded++;
        if (!charges.some((c) => c.id === result.chargeId)) s.mismatches++;
        break;
      case "indeterminate":
        s.indeterminate++;
        if (charges.length > 0) s.indeterminateCharged++;
        break;
      case "failed":
        if (charges.length > 0) s.lostSuccesses++;
        else s.failed++;
        break;
    }
  }
  s.clientRetries = s.attempts - s.payments;
  return s;
}

const FAULT_LABELS: Record<Fault, string> = {
  late: "late answer (charged)",
  resetAfterCharge: "reset after charging",
  resetBeforeCharge: "reset before charging",
  unavailable: "503, nothing processed",
  rateLimited: "429 + Retry-After",
};

/** The two runs side by side, then what the numbers mean. */
export function formatReport(direct: RunSummary, payguard: RunSummary): string {
  const rows: [string, string, string][] = [
    ["", "direct", "payguard"],
    ["payments attempted", n(direct.payments), n(payguard.payments)],
    ["faults injected", n(direct.faultsTotal), n(payguard.faultsTotal)],
    ...FAULTS.filter((f) => direct.faults[f] + payguard.faults[f] > 0).map((f): [string, string, string] => [
      `  ${FAULT_LABELS[f]}`,
      n(direct.faults[f]),
      n(payguard.faults[f]),
    ]),
    ["client retries", n(direct.clientRetries), n(payguard.clientRetries)],
    ["replays (Idempotent-Replayed)", n(direct.replays), n(payguard.replays)],
    ["requests at the gateway", n(direct.gatewayRequests), n(payguard.gatewayRequests)],
    ["charges at the gateway", n(direct.charges), n(payguard.charges)],
    ["DOUBLE CHARGES (payments)", doubles(direct), doubles(payguard)],
    ["LOST SUCCESSES", n(direct.lostSuccesses), n(payguard.lostSuccesses)],
    ["indeterminate (reconcile)", indeterminate(direct), indeterminate(payguard)],
    ["succeeded", n(direct.succeeded), n(payguard.succeeded)],
    ["failed (not charged)", n(direct.failed), n(payguard.failed)],
    ["mismatched charge ids", n(direct.mismatches), n(payguard.mismatches)],
    ...eventRows(payguard.events),
    ["time", seconds(direct.durationMs), seconds(payguard.durationMs)],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const w2 = Math.max(...rows.map((r) => r[2].length));
  const table = rows.map(([label, a, b], i) => {
    const line = `  ${label.padEnd(w0)}   ${a.padStart(w1)}   ${b.padStart(w2)}`;
    return i === 0 ? `${line}\n  ${"─".repeat(w0 + w1 + w2 + 6)}` : line;
  });
  return [
    ...table,
    "",
    "  Direct: after a timeout or a reset the client retries, and the gateway (no idempotency support) charges again.",
    "  payguard: the retry's Idempotency-Key gets the stored first answer (a replay), or 502 outcome_indeterminate when",
    "  the first attempt's outcome is unknown (flagged for reconciliation) — never a second charge. A lost success is a",
    "  charge whose client ended with an error. Faults are drawn per request that reaches the gateway, from the seed.",
    "  Events: through payguard the gateway posts each charge's webhook event late, up to 3 times, out of order; payguard",
    "  stores each once, settles the ledger row of a flagged payment from it, and delivers it to the service once. A late",
    "  repeat of a flagged key still gets 502 outcome_indeterminate: the event says what happened, the ledger keeps it",
    "  (docs/webhooks.md).",
  ].join("\n");
}

/** The rows for payguard's webhook events (direct has none: "—"). */
function eventRows(events: EventsSummary | undefined): [string, string, string][] {
  if (!events) return [];
  return [
    ["indeterminate settled by events", "—", `${events.settled} of ${events.indeterminateCharged} charged`],
    ["  flagged → settled (median / max)", "—", `${seconds(events.settleMedianMs)} / ${seconds(events.settleMaxMs)}`],
    ["  a late repeat of such a key gets", "—", events.lateRepeat],
    ["events delivered to the service", "—", `${events.delivered} of ${events.events}, each once (${events.posts} posts)`],
  ];
}

function n(value: number): string {
  return String(value);
}

function doubles(s: RunSummary): string {
  return s.doubleCharges === 0 ? "0" : `${s.doubleCharges} (+${s.extraCharges} charges)`;
}

function indeterminate(s: RunSummary): string {
  if (s.run === "direct" && s.indeterminate === 0) return "—";
  return s.indeterminate === 0 ? "0" : `${s.indeterminate} (${s.indeterminateCharged} charged)`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
