/**
 * The chaos suite's invariants, as pure checks over what the clients saw, what the gateway
 * charged, and what a verification pass got back afterwards. Each returns breaches by
 * payment id ("<Authorization> <payment>", the gateway ledger's key); none throws.
 */
import type { Charge } from "../../src/sim/gateway.js";
import type { Attempt, PaymentResult } from "./client.js";

export interface Breach {
  invariant: 1 | 2 | 3 | 4 | 5 | 6;
  payment: string;
  detail: string;
}

export const INVARIANTS: Record<Breach["invariant"], string> = {
  1: "a client that got a 2xx: exactly one charge, and every 2xx carries that charge's id",
  2: "no payment charged more than once",
  3: "every charge the gateway answered is recorded (replayed from the store, nothing re-sent)",
  4: "every client's answers are consistent over time",
  5: "no cross-tenant replay",
  6: "the outcome ledger's completed rows match the gateway's answered charges one for one",
};

/** A completed row of the outcome ledger: the charge id it picked (`fields ->> '/id'`). */
export interface LedgerRow {
  charge: string | null;
  state: string;
}

/** Charges that went through the killed replica's process shortly before it died. */
export interface KillWindow {
  /** request-id suffix of the killed process, e.g. "A0" */
  process: string;
  /** performance.now() of the SIGKILL */
  killedAt: number;
  /** how long before the kill a charge may have been made and still be unsettled (≥ the total upstream timeout) */
  beforeMs: number;
  /** request ids the killed process logged an answer for: it settled those before answering */
  logged: ReadonlySet<string>;
}

export interface Evidence {
  results: readonly PaymentResult[];
  /** the gateway's ledger after the load (before verification) */
  charges: readonly Charge[];
  /** the verification pass's answer per payment id (only payments that were verified) */
  verification: ReadonlyMap<string, Attempt>;
  /** charges the gateway made during the verification pass: there must be none */
  chargedByVerification: readonly Charge[];
  kill: KillWindow;
  /** the ledger's completed rows (a store that keeps one), read after verification */
  ledger?: readonly LedgerRow[];
}

export interface Verdict {
  breaches: Breach[];
  /** answered charges whose record is legitimately indeterminate: their answer died with the killed replica */
  killWindowExcused: Charge[];
}

const ledgerId = (c: Charge) => `${c.tenant} ${c.payment}`;
const is2xx = (a: Attempt) => a.status !== undefined && a.status >= 200 && a.status < 300;
const isIndeterminate = (a: Attempt) => a.status === 502 && a.code === "outcome_indeterminate";

export function inKillWindow(c: Charge, kill: KillWindow): boolean {
  return (
    c.requestId?.endsWith(`.${kill.process}`) === true &&
    c.at >= kill.killedAt - kill.beforeMs &&
    c.at <= kill.killedAt + 1_000 &&
    !kill.logged.has(c.requestId)
  );
}

/**
 * Invariant 4, the rule for one client's answers in order (its attempts, then the
 * verification answer). What is legitimately possible:
 * - answers carrying no outcome — client timeout, connection error, 409 in use, 429, 503
 *   (store_unavailable, shutting_down, the gateway's "nothing processed"), 502/504 of the
 *   attempt that reached the gateway (upstream_reset, upstream_timeout, …) — may come
 *   anywhere before the outcome is known;
 * - 502 outcome_indeterminate ("the gateway may have charged") may later turn into a 2xx:
 *   an answer journaled while Redis was down is written back over an indeterminate marker
 *   (docs/operations.md, "Shared store (Redis)");
 * - once a 2xx has been given, every later answer for that key is the same 2xx (same
 *   charge id): anything else — another charge, an indeterminate, a 409, a fresh call —
 *   means the store lost or changed a known outcome;
 * - 422 idempotency_key_reused never: every attempt of a payment is the same request.
 */
export function consistencyBreach(answers: readonly Attempt[]): string | undefined {
  let charged: string | undefined;
  for (const a of answers) {
    if (a.status === 422) return `422 ${a.code ?? ""} for an identical request (${a.requestId})`;
    if (charged !== undefined) {
      if (!is2xx(a)) return `2xx ${charged}, later ${a.status ?? a.error} ${a.code ?? ""} (${a.requestId})`;
      if (a.chargeId !== charged) return `2xx ${charged}, later 2xx ${a.chargeId} (${a.requestId})`;
      continue;
    }
    if (is2xx(a)) charged = a.chargeId;
  }
  return undefined;
}

export function checkInvariants(ev: Evidence): Verdict {
  const breaches: Breach[] = [];
  const killWindowExcused: Charge[] = [];
  const chargesOf = new Map<string, Charge[]>();
  for (const c of ev.charges) chargesOf.set(ledgerId(c), [...(chargesOf.get(ledgerId(c)) ?? []), c]);

  // 1. A success means exactly one charge, and every 2xx (client or verification) names it.
  for (const r of ev.results) {
    const charges = chargesOf.get(r.plan.id) ?? [];
    const verified = ev.verification.get(r.plan.id);
    const twoXX = [...r.attempts, ...(verified ? [verified] : [])].filter(is2xx);
    if (r.outcome === "success" && charges.length !== 1) {
      breaches.push({ invariant: 1, payment: r.plan.id, detail: `client got 2xx, gateway charged ${charges.length} times` });
    }
    for (const a of twoXX) {
      if (!charges.some((c) => c.id === a.chargeId)) {
        breaches.push({ invariant: 1, payment: r.plan.id, detail: `2xx carries ${a.chargeId}, not a charge of this payment (${a.requestId})` });
      } else if (charges.length === 1 && charges[0]?.id !== a.chargeId) {
        breaches.push({ invariant: 1, payment: r.plan.id, detail: `2xx carries ${a.chargeId}, the charge is ${charges[0]?.id}` });
      }
    }
  }

  // 2. No double charge, whatever the client saw.
  for (const [id, charges] of chargesOf) {
    if (charges.length > 1) {
      breaches.push({ invariant: 2, payment: id, detail: `charged ${charges.length}×: ${charges.map((c) => `${c.id} via ${c.requestId}`).join(", ")}` });
    }
  }

  // 3. Every answered charge is replayed from the store, except those whose answer died
  //    with the killed replica before it could record it (indeterminate is then correct).
  for (const c of ev.charges) {
    if (!c.answered) continue;
    const v = ev.verification.get(ledgerId(c));
    if (v && is2xx(v) && v.replayed && v.chargeId === c.id) continue;
    if (v && isIndeterminate(v) && inKillWindow(c, ev.kill)) {
      killWindowExcused.push(c);
      continue;
    }
    const got = v ? `${v.status ?? v.error} ${v.code ?? ""}${v.chargeId ?? ""}${v.replayed ? " (replayed)" : ""}` : "not verified";
    breaches.push({ invariant: 3, payment: ledgerId(c), detail: `${c.id} answered via ${c.requestId}, a repeat got ${got}` });
  }
  for (const c of ev.chargedByVerification) {
    breaches.push({ invariant: 3, payment: ledgerId(c), detail: `the verification repeat reached the gateway and charged ${c.id} (${c.requestId})` });
  }

  // 4. Consistent answers over time (the rule above), verification answer included.
  for (const r of ev.results) {
    const verified = ev.verification.get(r.plan.id);
    const breach = consistencyBreach([...r.attempts, ...(verified ? [verified] : [])]);
    if (breach) breaches.push({ invariant: 4, payment: r.plan.id, detail: breach });
    if (r.outcome === "indeterminate" && verified && !is2xx(verified) && !isIndeterminate(verified)) {
      breaches.push({ invariant: 4, payment: r.plan.id, detail: `indeterminate, later ${verified.status ?? verified.error} ${verified.code ?? ""}` });
    }
  }

  // 5. A 2xx always answers the payment that was asked for (a key is shared across tenants).
  for (const r of ev.results) {
    const verified = ev.verification.get(r.plan.id);
    for (const a of [...r.attempts, ...(verified ? [verified] : [])]) {
      if (is2xx(a) && a.payment !== r.plan.payment) {
        breaches.push({ invariant: 5, payment: r.plan.id, detail: `asked for ${r.plan.payment}, got ${a.payment} (${a.chargeId}, ${a.requestId})` });
      }
    }
  }
  if (ev.ledger) breaches.push(...ledgerBreaches(ev.ledger, ev.charges, killWindowExcused));
  return { breaches, killWindowExcused };
}

/**
 * 6. One completed ledger row per answered charge: none missing (except a charge whose answer
 *    died with the killed replica), none twice, none for a charge the gateway never answered.
 */
export function ledgerBreaches(rows: readonly LedgerRow[], charges: readonly Charge[], excused: readonly Charge[]): Breach[] {
  const breaches: Breach[] = [];
  const answered = new Map(charges.filter((c) => c.answered && !excused.includes(c)).map((c) => [c.id, c]));
  const byId = new Map(charges.map((c) => [c.id, c]));
  const seen = new Set<string>();
  for (const row of rows) {
    const charge = row.charge === null ? undefined : byId.get(row.charge);
    const payment = charge ? ledgerId(charge) : "?";
    if (!charge || !answered.has(charge.id)) breaches.push({ invariant: 6, payment, detail: `a ${row.state} row for ${row.charge}, not an answered charge` });
    else if (seen.has(charge.id)) breaches.push({ invariant: 6, payment, detail: `${charge.id} has more than one completed row` });
    if (row.charge !== null) seen.add(row.charge);
  }
  for (const c of answered.values()) {
    if (!seen.has(c.id)) breaches.push({ invariant: 6, payment: ledgerId(c), detail: `${c.id} (answered via ${c.requestId}) has no completed row` });
  }
  return breaches;
}

/** One line per broken invariant: the count and at most `shown` payment ids with details. */
export function describeBreaches(breaches: readonly Breach[], shown = 20): string {
  const lines: string[] = [];
  for (const n of [1, 2, 3, 4, 5, 6] as const) {
    const mine = breaches.filter((b) => b.invariant === n);
    if (mine.length === 0) continue;
    lines.push(`invariant ${n} (${INVARIANTS[n]}): ${mine.length} breach(es)`);
    for (const b of mine.slice(0, shown)) lines.push(`  ${b.payment}: ${b.detail}`);
    if (mine.length > shown) lines.push(`  … and ${mine.length - shown} more`);
  }
  return lines.join("\n");
}
