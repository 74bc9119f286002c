/**
 * `npm run demo` as a user runs it: dist/demo/main.js (built by `pretest`) as a child
 * process, its summary read from --json. The simulated gateway draws each arrival's fault
 * from the seed and the payment's arrival number, so the fault schedule is the same on every
 * run; totals depend on how many retries timing made.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { RunSummary } from "../../src/demo/report.js";
import { runNode } from "../support/payguard.js";

const DEMO = new URL("../../dist/demo/main.js", import.meta.url).pathname;

interface Summary {
  seed: number;
  direct: RunSummary;
  payguard: RunSummary;
  ok: boolean;
}

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode(DEMO, args);
}

// Default fault rates and timings; 80 payments with this seed give the direct run several
// double charges (late answers and resets after charging, retried by the client). Eight
// attempts of 400 ms with backoff span several seconds: the clients' retries outlast a late
// answer (1 s) even on a busy machine, so "no success is lost" does not hang on timing.
const ARGS = ["--json", "--payments", "80", "--seed", "7", "--attempts", "8"];

describe("npm run demo", () => {
  const runs: { code: number | null; stdout: string; stderr: string; summary: Summary }[] = [];

  beforeAll(async () => {
    // Two runs side by side: one to check, and one to show the same seed gives the same faults.
    for (const r of await Promise.all([runDemo(ARGS), runDemo(ARGS)])) {
      runs.push({ ...r, summary: JSON.parse(r.stdout) as Summary });
    }
  }, 30_000);

  it("exits 0 with one JSON summary on stdout and the progress on stderr", () => {
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.summary.ok).toBe(true);
      expect(run.stderr).toMatch(/payguard +80\/80 payments/);
    }
  });

  it("direct, the clients' retries charge payments twice; through payguard no payment is charged twice", () => {
    const { direct, payguard } = runs[0]?.summary ?? ({} as Summary);
    expect(direct.payments).toBe(80);
    expect(direct.faultsTotal).toBeGreaterThan(0);
    expect(direct.attempts).toBeGreaterThan(direct.payments);
    expect(direct.doubleCharges).toBeGreaterThan(0);
    expect(direct.charges).toBe(direct.payments - direct.failed - direct.indeterminate + direct.extraCharges);
    expect(payguard.doubleCharges).toBe(0);
    expect(payguard.extraCharges).toBe(0);
  });

  it("through payguard no success is lost: every charged payment is a success or flagged indeterminate", () => {
    const { payguard } = runs[0]?.summary ?? ({} as Summary);
    expect(payguard.lostSuccesses).toBe(0);
    // Late answers reach the retrying client as replays; resets after charging as outcome_indeterminate.
    expect(payguard.replays).toBeGreaterThan(0);
    expect(payguard.indeterminate).toBeGreaterThan(0);
    expect(payguard.succeeded + payguard.indeterminate + payguard.failed).toBe(payguard.payments);
  });

  it("through payguard a 503 that processed nothing is retried afresh, not flagged (idempotency.notProcessed)", () => {
    const { payguard } = runs[0]?.summary ?? ({} as Summary);
    expect(payguard.faults.unavailable).toBeGreaterThan(0);
    // With these rates the gateway only resets after charging: every flagged payment was charged.
    expect(payguard.indeterminateCharged).toBe(payguard.indeterminate);
    expect(payguard.failed).toBe(0);
  });

  it("through payguard every charged indeterminate payment is settled by its event; each event reaches the service once", () => {
    for (const run of runs) {
      const events = run.summary.payguard.events;
      expect(events?.indeterminateCharged).toBe(run.summary.payguard.indeterminateCharged);
      expect(events?.settled).toBe(events?.indeterminateCharged);
      expect(events?.settleMaxMs).toBeGreaterThan(0);
      // one event per charge, posted in copies (some twice or thrice), each delivered once
      expect(events?.events).toBe(run.summary.payguard.charges);
      expect(events?.posts).toBeGreaterThan(events?.events ?? 0);
      expect(events?.delivered).toBe(events?.events);
      expect(events?.deliveredTwice).toBe(0);
      expect(events?.lateRepeat).toBe("502 outcome_indeterminate");
      expect(run.summary.direct.events).toBeUndefined();
    }
  });

  it("every success the clients saw is a charge the gateway made for that payment", () => {
    for (const run of runs) {
      expect(run.summary.direct.mismatches).toBe(0);
      expect(run.summary.payguard.mismatches).toBe(0);
    }
  });

  // How many arrivals a payment makes depends on timing (a client that times out retries),
  // so fault totals may differ between runs on a busy machine; the schedule may not.
  it("the same seed meets the same faults: the n-th arrival of a payment meets the same fault in every run", () => {
    const [a, b] = runs.map((r) => r.summary) as [Summary, Summary];
    let compared = 0;
    for (const run of ["direct", "payguard"] as const) {
      for (const [payment, faults] of Object.entries(a[run].schedule)) {
        const other = b[run].schedule[payment] ?? [];
        const common = Math.min(faults.length, other.length);
        expect(other.slice(0, common), `${run} ${payment}`).toEqual(faults.slice(0, common));
        compared += common;
      }
    }
    // Direct, every payment reaches the gateway at least once in both runs.
    expect(Object.keys(a.direct.schedule).sort()).toEqual(Object.keys(b.direct.schedule).sort());
    expect(Object.keys(a.direct.schedule)).toHaveLength(80);
    expect(compared).toBeGreaterThanOrEqual(160);
  });

  it("a bad flag exits 2 and names it", async () => {
    const bad = await runDemo(["--payments", "lots", "--late", "1.5"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--payments: must be an integer");
    expect(bad.stderr).toContain("--late: must be a fraction");
    expect(bad.stdout).toBe("");
    const unknown = await runDemo(["--frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("--frobnicate");
  });
});
