/**
 * The chaos suite's payment clients: concurrent workers, each taking the next payment and
 * sending it — same tenant, key and body on every attempt — to a random replica until it
 * gets a final answer. Every attempt is recorded: the invariants are judged from them.
 *
 * Final: a 2xx, 502 `outcome_indeterminate`, or another 4xx than 409/429. Retried: client
 * timeouts, connection errors, 409, 429 and other 5xx (Retry-After honoured, capped).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";

export interface PaymentPlan {
  /** the gateway ledger's payment id: "<Authorization> <payment>" */
  readonly id: string;
  readonly tenant: string;
  readonly payment: string;
  readonly key: string;
  readonly body: string;
}

export type AttemptError = "timeout" | "refused" | "reset";

export interface Attempt {
  /** X-Request-Id sent: "<payment>.<attempt>.<replica><epoch>" — the gateway ledger records it */
  readonly requestId: string;
  readonly replica: string;
  readonly epoch: number;
  readonly status?: number;
  /** the problem `code` of a payguard answer */
  readonly code?: string;
  /** from a 2xx body */
  readonly chargeId?: string;
  readonly payment?: string;
  readonly replayed: boolean;
  readonly error?: AttemptError;
}

export type Outcome = "success" | "indeterminate" | "rejected" | "gave-up";

export interface PaymentResult {
  readonly plan: PaymentPlan;
  readonly attempts: Attempt[];
  outcome: Outcome;
}

export interface Target {
  readonly name: string;
  readonly url: string;
  readonly epoch: number;
}

export const PATH = "/v1/payment_intents";

/** `count` payments over three tenants; every `reuseEvery`-th reuses the previous payment's key (another tenant's). */
export function planPayments(count: number, reuseEvery: number): PaymentPlan[] {
  const tenants = ["Bearer sk_chaos_tenant_1", "Bearer sk_chaos_tenant_2", "Bearer sk_chaos_tenant_3"];
  const plans: PaymentPlan[] = [];
  for (let i = 0; i < count; i++) {
    const tenant = tenants[i % tenants.length] as string;
    const payment = `pay_${i}`;
    const previous = plans[i - 1];
    const key = previous && i % reuseEvery === 0 ? previous.key : randomUUID();
    const body = JSON.stringify({ payment, amount: 1000 + (i % 900), currency: "eur" });
    plans.push({ id: `${tenant} ${payment}`, tenant, payment, key, body });
  }
  return plans;
}

export interface ClientOptions {
  concurrency: number;
  maxAttempts: number;
  /** per-attempt client timeout (ms) */
  timeoutMs: number;
  /** the longest Retry-After honoured (ms) */
  maxRetryAfterMs: number;
  /** the replicas, read at every attempt (a restarted replica has a new epoch) */
  targets: () => readonly Target[];
  /** called after each payment's final answer, with the count so far */
  onProgress?: (done: number) => void;
}

export interface AttemptAnswer {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  text?: string;
  error?: AttemptError;
}

function errorKind(err: unknown): AttemptError {
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  if (e.name === "TimeoutError" || e.name === "AbortError" || e.code === "UND_ERR_ABORTED") return "timeout";
  if (e.code === "ECONNREFUSED" || e.cause?.code === "ECONNREFUSED") return "refused";
  return "reset";
}

/** One HTTP exchange: the plan's request to `url`, with a client timeout. Never throws. */
export async function sendOnce(agent: Agent, url: string, plan: PaymentPlan, requestId: string, timeoutMs: number): Promise<AttemptAnswer> {
  try {
    const res = await request(new URL(PATH, url), {
      dispatcher: agent,
      method: "POST",
      headers: {
        authorization: plan.tenant,
        "content-type": "application/json",
        "idempotency-key": plan.key,
        "x-request-id": requestId,
      },
      body: plan.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  } catch (err) {
    return { error: errorKind(err) };
  }
}

/** What an answer says: its record, whether it is final, and how long to wait before a retry. */
export function judge(
  answer: AttemptAnswer,
  base: Pick<Attempt, "requestId" | "replica" | "epoch">,
): { attempt: Attempt; final?: Outcome; retryAfterMs?: number } {
  if (answer.error || answer.status === undefined) return { attempt: { ...base, replayed: false, error: answer.error ?? "reset" } };
  const status = answer.status;
  let parsed: { code?: unknown; id?: unknown; payment?: unknown } = {};
  try {
    parsed = JSON.parse(answer.text ?? "");
  } catch {}
  const code = answer.headers?.["payguard-origin"] === "proxy" && typeof parsed.code === "string" ? parsed.code : undefined;
  const attempt: Attempt = {
    ...base,
    status,
    ...(code ? { code } : {}),
    ...(status < 300 && typeof parsed.id === "string" ? { chargeId: parsed.id } : {}),
    ...(status < 300 && typeof parsed.payment === "string" ? { payment: parsed.payment } : {}),
    replayed: answer.headers?.["idempotent-replayed"] === "true",
  };
  const retryAfter = Number(answer.headers?.["retry-after"]);
  const retryAfterMs = Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined;
  if (status >= 200 && status < 300) return { attempt, final: "success" };
  if (status === 502 && code === "outcome_indeterminate") return { attempt, final: "indeterminate" };
  if (status >= 400 && status < 500 && status !== 409 && status !== 429) return { attempt, final: "rejected" };
  return retryAfterMs === undefined ? { attempt } : { attempt, retryAfterMs };
}

/** Sends every plan through the replicas; resolves when each has a final answer or ran out of attempts. */
export async function runClients(plans: readonly PaymentPlan[], options: ClientOptions): Promise<PaymentResult[]> {
  const agent = new Agent({ keepAliveTimeout: 2_000 });
  const results: PaymentResult[] = [];
  let next = 0;
  let done = 0;

  const pay = async (plan: PaymentPlan): Promise<PaymentResult> => {
    const result: PaymentResult = { plan, attempts: [], outcome: "gave-up" };
    for (let n = 1; n <= options.maxAttempts; n++) {
      const targets = options.targets();
      const target = targets[Math.floor(Math.random() * targets.length)] as Target;
      const requestId = `${plan.payment}.${n}.${target.name}${target.epoch}`;
      const answer = await sendOnce(agent, target.url, plan, requestId, options.timeoutMs);
      const { attempt, final, retryAfterMs } = judge(answer, { requestId, replica: target.name, epoch: target.epoch });
      result.attempts.push(attempt);
      if (final) {
        result.outcome = final;
        break;
      }
      // Small jittered backoff; a Retry-After (409, 429, 503) is honoured up to the cap.
      const backoff = 20 + Math.random() * 30 * n;
      await sleep(retryAfterMs === undefined ? backoff : Math.min(retryAfterMs, options.maxRetryAfterMs));
    }
    return result;
  };

  const worker = async () => {
    for (;;) {
      const plan = plans[next++];
      if (!plan) return;
      results.push(await pay(plan));
      options.onProgress?.(++done);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    await agent.close();
  }
  return results;
}

/** Sends one plan until an answer other than 409 / 503 / a connection error (verification). */
export async function resend(agent: Agent, target: Target, plan: PaymentPlan, tag: string): Promise<Attempt> {
  let attempt: Attempt | undefined;
  for (let n = 1; n <= 10; n++) {
    const requestId = `${plan.payment}.${tag}${n}.${target.name}${target.epoch}`;
    const judged = judge(await sendOnce(agent, target.url, plan, requestId, 5_000), { requestId, replica: target.name, epoch: target.epoch });
    attempt = judged.attempt;
    if (!attempt.error && attempt.status !== 409 && attempt.status !== 503) return attempt;
    await sleep(Math.min(judged.retryAfterMs ?? 200, 1_000));
  }
  return attempt as Attempt;
}
