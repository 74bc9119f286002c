/**
 * The demo's webhook side. The service's own endpoint, where payguard delivers the gateway's
 * events (it counts each delivery by Payguard-Webhook-Id); and the audit after the payments:
 * every charged payment payguard had to call indeterminate, settled in the outcome ledger by
 * its event — how long after it was flagged — and what a late repeat of its key gets.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import type { IdempotencyStore, LedgerEntry } from "../store/types.js";
import { type Payment, paymentRequest } from "./client.js";

/** What the events did for the payments payguard flagged (the demo's extra rows). */
export interface EventsSummary {
  /** events the gateway posted (one per charge), and its posts in all (copies, repeats) */
  events: number;
  posts: number;
  /** deliveries to the service that it answered, and events it got more than once */
  delivered: number;
  deliveredTwice: number;
  /** charged payments flagged indeterminate, and those an event settled in the ledger */
  indeterminateCharged: number;
  settled: number;
  /** from the indeterminate row to the event's row, ms */
  settleMedianMs: number;
  settleMaxMs: number;
  /** what a repeat of such a payment's key got after its event, e.g. "502 outcome_indeterminate" */
  lateRepeat: string;
}

export interface Service {
  url: string;
  /** deliveries answered, by Payguard-Webhook-Id */
  readonly deliveries: ReadonlyMap<string, number>;
  stop(): Promise<void>;
}

/** The service's webhook endpoint: takes every event (200) and counts it. */
export async function startService(): Promise<Service> {
  const deliveries = new Map<string, number>();
  const server = createServer((req, res) => {
    req.resume().on("end", () => {
      const id = String(req.headers["payguard-webhook-id"]);
      deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/gateway`,
    deliveries,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Waits (at most `timeoutMs`) until each payment's ledger rows — linked by its id, the
 * request's `payment` — hold a `settled-by-event` row; returns, per payment settled, the
 * time from its indeterminate row to that row.
 */
export async function waitForSettlement(store: IdempotencyStore, payments: readonly string[], timeoutMs: number): Promise<Map<string, number>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const settled = settleTimes(await ledgerRows(store), new Set(payments));
    if (settled.size === payments.length || performance.now() > deadline) return settled;
    await sleep(100);
  }
}

function settleTimes(rows: readonly LedgerEntry[], wanted: ReadonlySet<string>): Map<string, number> {
  const flagged = new Map<string, { link: string; at: number }>();
  for (const row of rows) if (row.state === "indeterminate" && row.link && wanted.has(row.link)) flagged.set(row.record, { link: row.link, at: row.settledAt });
  const times = new Map<string, number>();
  for (const row of rows) {
    const payment = flagged.get(row.record);
    if (row.state === "settled-by-event" && row.outcome === "succeeded" && payment) times.set(payment.link, row.settledAt - payment.at);
  }
  return times;
}

async function ledgerRows(store: IdempotencyStore): Promise<LedgerEntry[]> {
  const rows: LedgerEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.outcomes?.({ since: 0, limit: 1000, cursor });
    rows.push(...(page?.outcomes ?? []));
    cursor = page?.cursor;
  } while (cursor);
  return rows;
}

/** Sends the payment's request once more, with its key: the status and problem code it gets. */
export async function repeatOnce(baseUrl: string, payment: Payment): Promise<string> {
  const { path, headers, body } = paymentRequest(payment);
  const answer = await request(new URL(path, baseUrl), { method: "POST", headers, body });
  const text = await answer.body.text();
  const code = /"code":"([a-z_]+)"/.exec(text)?.[1];
  return code ? `${answer.statusCode} ${code}` : String(answer.statusCode);
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
}
