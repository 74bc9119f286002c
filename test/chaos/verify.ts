/**
 * After a chaos run: every payment that has an outcome to compare with — a charge the
 * gateway answered, a 2xx or an indeterminate given to its client — is asked again, and the
 * outcome ledger (PostgreSQL) is read, for the invariants to judge.
 */
import pg from "pg";
import { Agent } from "undici";
import type { Charge } from "../../src/sim/gateway.js";
import { type Attempt, type PaymentResult, resend, type Target } from "./client.js";
import type { LedgerRow } from "./invariants.js";

/** Re-asks every payment with an outcome, 16 at a time, spread over the targets; answers by payment id. */
export async function verifyOutcomes(results: readonly PaymentResult[], charges: readonly Charge[], targets: () => Target[]): Promise<Map<string, Attempt>> {
  const answeredIds = new Set(charges.filter((c) => c.answered).map((c) => `${c.tenant} ${c.payment}`));
  const toVerify = results.filter((r) => answeredIds.has(r.plan.id) || r.outcome === "success" || r.outcome === "indeterminate");
  const verification = new Map<string, Attempt>();
  const agent = new Agent();
  try {
    let next = 0;
    const worker = async () => {
      for (let r = toVerify[next++]; r; r = toVerify[next++]) {
        const all = targets();
        verification.set(r.plan.id, await resend(agent, all[next % all.length] as Target, r.plan, "v"));
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    await agent.close();
  }
  return verification;
}

/** The ledger's completed rows with a 2xx answer, by the charge id they picked. */
export async function completedRows(url: string, schema: string): Promise<LedgerRow[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const sql = `SELECT fields ->> '/id' AS charge, state FROM ${schema}.ledger
                 WHERE state IN ('completed', 'completed-in-background') AND status BETWEEN 200 AND 299`;
    return (await client.query<LedgerRow>(sql)).rows;
  } finally {
    await client.end();
  }
}
