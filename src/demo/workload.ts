/**
 * The workload: N payments from a few tenants, paid by `concurrency` concurrent clients.
 * Payment i is the same in every run (id, tenant, amount), so the simulated gateway draws
 * the same faults for it; only the idempotency keys are fresh per run.
 */
import { randomUUID } from "node:crypto";
import { Agent } from "undici";
import { type ClientOptions, type Payment, type PaymentOutcome, pay } from "./client.js";

export const TENANTS = 3;

export interface WorkloadOptions {
  baseUrl: string;
  payments: number;
  concurrency: number;
  client: Omit<ClientOptions, "baseUrl" | "dispatcher">;
  /** called after each payment settles, with the number settled so far */
  onSettled?: (done: number) => void;
}

/** Payment i (1-based): its id, tenant and amount depend on i only. */
export function paymentOf(i: number): Payment {
  const tenant = ((i - 1) % TENANTS) + 1;
  return {
    id: `pay_${i}`,
    authorization: `Bearer sk_test_demo_tenant_${tenant}`,
    amount: 500 + ((i * 7919) % 9500),
    idempotencyKey: randomUUID(),
  };
}

/** Runs every payment to its end; outcomes come back in payment order. */
export async function runWorkload(options: WorkloadOptions): Promise<PaymentOutcome[]> {
  const dispatcher = new Agent({ connections: options.concurrency });
  const client: ClientOptions = { ...options.client, baseUrl: options.baseUrl, dispatcher };
  const outcomes: PaymentOutcome[] = new Array(options.payments);
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (let i = next++; i < options.payments; i = next++) {
      outcomes[i] = await pay(paymentOf(i + 1), client);
      options.onSettled?.(++done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency, options.payments) }, worker));
  } finally {
    await dispatcher.destroy();
  }
  return outcomes;
}
