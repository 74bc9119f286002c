/** The chaos run's figures, as one printable block. Pure. */
import type { GatewaySim } from "../../src/sim/gateway.js";
import { sample } from "../support/metrics.js";
import type { PaymentResult } from "./client.js";
import type { Verdict } from "./invariants.js";

export interface RunFacts {
  seed: number;
  results: readonly PaymentResult[];
  sim: GatewaySim;
  /** /metrics of every replica process that ran (killed ones scraped just before the kill) */
  metrics: readonly string[];
  verified: number;
  /** performance.now() of the replica kill */
  killedAt: number;
  verdict: Verdict;
  /** phase durations, ms */
  durations: Record<string, number>;
  events: string[];
}

function tally<T extends string>(items: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

const list = (m: Map<string, number> | Record<string, number>) =>
  [...(m instanceof Map ? m.entries() : Object.entries(m))]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");

export function formatFigures(f: RunFacts): string {
  const attempts = f.results.flatMap((r) => r.attempts);
  const byAnswer = tally(
    attempts.map((a) =>
      a.error ? `${a.error}` : a.status !== undefined && a.status < 300 ? `${a.status}${a.replayed ? " replayed" : ""}` : `${a.status} ${a.code ?? "gateway"}`,
    ),
  );
  const sum = (name: string, labels: Record<string, string> = {}) => f.metrics.reduce((total, text) => total + sample(text, name, labels), 0);
  const idem = (result: string) => sum("payguard_idempotency_total", { route: "default", result });
  const settled = (settlement: string) => sum("payguard_idempotency_settlements_total", { route: "default", settlement });
  const answered = f.sim.charges.filter((c) => c.answered).length;
  return [
    `chaos figures (seed ${f.seed}):`,
    `  payments ${f.results.length}: ${list(tally(f.results.map((r) => r.outcome)))}`,
    `  client attempts ${attempts.length}, retries ${attempts.length - f.results.length}; by answer: ${list(byAnswer)}`,
    `  gateway: arrivals ${f.sim.arrivals}, charges ${f.sim.charges.length} (answered ${answered}); faults ${list(f.sim.faults)}`,
    `  replicas: new ${idem("new")}, replayed ${idem("replayed")}, waited ${idem("waited")}, conflict(409) ${idem("conflict")}, indeterminate ${idem("indeterminate")}, takeover ${idem("takeover")}`,
    `  settlements: stored ${settled("stored")}, released ${settled("released")}, indeterminate ${settled("indeterminate")}, lost ${settled("lost")}, failed ${settled("failed")}; journal written back ${sum("payguard_journal_replays_total", { result: "written" })}, superseded ${sum("payguard_journal_replays_total", { result: "superseded" })}`,
    `  verification: ${f.verified} payments repeated; kill-window charges left indeterminate (excused) ${f.verdict.killWindowExcused.length}${f.verdict.killWindowExcused.length ? ` (${f.verdict.killWindowExcused.map((c) => `${c.id} ${c.fault} ${Math.round(f.killedAt - c.at)}ms before the kill`).join(", ")})` : ""}`,
    `  events: ${f.events.join("; ")}`,
    `  durations: ${Object.entries(f.durations)
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`)
      .join(", ")}`,
    `  breaches: ${f.verdict.breaches.length}`,
  ].join("\n");
}
