/**
 * What every official SDK gets through payguard, as one table of tests run once per SDK:
 * - a create succeeds, and its repeat is a replay the gateway never sees;
 * - each refusal payguard makes — in flight (409), payload mismatch (422), outcome unknown
 *   (502), breaker open (503), total timeout (504) — makes the SDK throw its own error type,
 *   with payguard's code readable from that error's native fields. Never a success.
 * - every answer after which the payment may have happened — a reset, an attempt timeout or
 *   the total deadline after the gateway got the create, with and without an upstream key —
 *   lets the caller read `outcome: "unknown"` from the SDK's own error object, on the first
 *   answer and on the repeat; no answer for a create that never reached the gateway says so.
 *
 * The SDK is the real client; payguard runs in front of the scripted fake gateway, under the
 * SDK's gateway profile.
 */
import { randomUUID } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import type { ProblemCode } from "../../src/errors.js";
import type { GatewayName } from "../../src/gateways/detect.js";
import { type SeenRequest, type Step, steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { freePort } from "../support/redis-server.js";
import { until } from "../support/until.js";

export interface SdkClient {
  /** one create call with the idempotency key `key`; `amount` varies the payload */
  create(key: string, amount: number): Promise<unknown>;
}

export interface SdkCase {
  /** upstream.gateway for payguard */
  gateway: GatewayName;
  /** the SDK, pointed at payguard by its base URL only */
  client(baseUrl: string): SdkClient;
  /** whether a request at the gateway is the create call */
  isCreate(req: SeenRequest): boolean;
  /** the gateway's answer to a create, in the shape the SDK expects */
  created: Step;
  /** the id a successful create returns */
  idOf(result: unknown): string | undefined;
  /** whether `err` is of the SDK's own error types */
  ownError(err: unknown): boolean;
  /** payguard's code as the caller reads it from the SDK's error */
  codeOf(err: unknown): string | undefined;
  /** the `outcome` as the caller reads it from the SDK's error: the field docs/gateways.md names for this SDK */
  outcomeOf(err: unknown): unknown;
  /** answers the SDK needs besides the create (PayPal's OAuth token call) */
  standing?: (req: SeenRequest) => Step | undefined;
}

export interface SdkEnv {
  env: ReturnType<typeof useGateway>;
  /** payguard (config: `extra`) under the SDK's profile, and the SDK pointed at it */
  start(extra?: string): Promise<SdkClient>;
  /** the creates the gateway saw in this test */
  creates(): SeenRequest[];
}

export function describeSdk(name: string, sdk: SdkCase): SdkEnv {
  const env = useGateway();
  let seenBefore = 0;
  /** the creates the gateway saw in this test */
  const creates = () => env.gw.requests.slice(seenBefore).filter(sdk.isCreate);
  const start = async (extra = "") => sdk.client((await env.payguard(extra, { url: env.gw.url, gateway: sdk.gateway })).url);

  beforeEach(() => {
    seenBefore = env.gw.requests.length;
    if (sdk.standing) env.gw.answerWhen(sdk.standing);
    env.gw.setDefault((req) => (sdk.isCreate(req) ? sdk.created : steps.json(404, { error: "not scripted" })));
  });

  /**
   * The call must throw the SDK's own error, with payguard's `code` readable, and "unknown"
   * readable exactly when the payment may have happened.
   */
  async function refused(call: Promise<unknown>, code: ProblemCode, outcome_?: "unknown"): Promise<unknown> {
    const outcome = await call.then(
      (value: unknown) => ({ resolved: true as const, value }),
      (error: unknown) => ({ resolved: false as const, error }),
    );
    if (outcome.resolved) expect.fail(`${name} resolved a refusal (${code}) as a success: ${JSON.stringify(outcome.value)}`);
    expect(sdk.ownError(outcome.error), `${name} threw ${String(outcome.error)}, not its own error type`).toBe(true);
    expect(sdk.codeOf(outcome.error)).toBe(code);
    expect(sdk.outcomeOf(outcome.error), `${name}: the outcome its caller reads (${code})`).toBe(outcome_);
    return outcome.error;
  }

  describe(`${name} through payguard (${sdk.gateway} profile)`, () => {
    it("a create succeeds, and its repeat is a replay the gateway never sees", async () => {
      const client = await start();
      const key = randomUUID();
      const first = await client.create(key, 1000);
      const again = await client.create(key, 1000);
      expect(sdk.idOf(first)).toBeTruthy();
      expect(sdk.idOf(again)).toBe(sdk.idOf(first));
      expect(creates()).toHaveLength(1);
    });

    it("in flight (409): a duplicate of a create still running throws, with idempotency_key_in_use", async () => {
      const client = await start("idempotency: { inFlight: { strategy: reject } }");
      env.gw.script(steps.delay(1500, sdk.created));
      const key = randomUUID();
      const first = client.create(key, 1000);
      await until(() => creates().length === 1, "the gateway has the first create");
      await refused(client.create(key, 1000), "idempotency_key_in_use", "unknown");
      expect(sdk.idOf(await first)).toBeTruthy();
      expect(creates()).toHaveLength(1);
    });

    it("payload mismatch (422): the same key with another amount throws, with idempotency_key_reused", async () => {
      const client = await start();
      const key = randomUUID();
      await client.create(key, 1000);
      await refused(client.create(key, 2500), "idempotency_key_reused");
      expect(creates()).toHaveLength(1);
    });

    it("outcome unknown (502): the repeat of a create whose answer was lost throws, with outcome_indeterminate", async () => {
      const client = await start("idempotency: { upstreamKey: false }");
      env.gw.script(steps.reset());
      const key = randomUUID();
      await refused(client.create(key, 1000), "upstream_reset", "unknown");
      await refused(client.create(key, 1000), "outcome_indeterminate", "unknown");
      expect(creates()).toHaveLength(1);
    });

    it("breaker open (503): once the gateway failed, a create throws, with circuit_open, and is not sent", async () => {
      const client = await start("resilience: { retry: { maxAttempts: 1 }, breaker: { threshold: 1, halfOpenAfter: 30s } }");
      env.gw.script(steps.reset());
      await refused(client.create(randomUUID(), 1000), "upstream_reset", "unknown");
      await refused(client.create(randomUUID(), 1000), "circuit_open");
      expect(creates()).toHaveLength(1);
    });

    it("total timeout (504): a create the gateway does not answer in time throws, with upstream_timeout", async () => {
      const client = await start("resilience: { timeout: { attempt: 250ms, total: 300ms }, retry: { maxAttempts: 1 } }");
      env.gw.script(steps.delay(1500, sdk.created));
      await refused(client.create(randomUUID(), 1000), "upstream_timeout", "unknown");
    });

    it("nothing sent (502): a create the gateway cannot be reached for throws, with upstream_unreachable, and does not say unknown", async () => {
      const pg = await env.payguard("resilience: { retry: { maxAttempts: 1 } }", { url: `http://127.0.0.1:${await freePort()}`, gateway: sdk.gateway });
      await refused(sdk.client(pg.url).create(randomUUID(), 1000), "upstream_unreachable");
    });
  });

  describe(`${name}: a payment the gateway may have made is told "unknown", first answer and repeat`, () => {
    // Retries off, completion off: the key is settled when the answer goes back
    // (completion.test.ts covers the background re-send).
    const config = (timeout: string, upstreamKey: boolean) =>
      `idempotency: { completion: { maxDuration: 0 }${upstreamKey ? "" : ", upstreamKey: false"} }\nresilience: { retry: { maxAttempts: 1 }${timeout} }`;
    // "the total deadline": the attempt timeout is as long but starts later, so the total ends the attempt.
    const causes = [
      { cause: "a reset after the gateway got it", code: "upstream_reset", timeout: "", fault: () => steps.reset() },
      {
        cause: "an attempt timeout",
        code: "upstream_timeout",
        timeout: ", timeout: { attempt: 250ms, total: 5s }",
        fault: () => steps.delay(1500, sdk.created),
      },
      {
        cause: "the total deadline",
        code: "upstream_timeout",
        timeout: ", timeout: { attempt: 300ms, total: 300ms }",
        fault: () => steps.delay(1500, sdk.created),
      },
    ] as const;

    it.each(causes)("no upstream key, $cause: the first answer and the repeat say unknown; the gateway got one create", async ({ code, timeout, fault }) => {
      const client = await start(config(timeout, false));
      env.gw.script(fault());
      const key = randomUUID();
      await refused(client.create(key, 1000), code, "unknown");
      await refused(client.create(key, 1000), "outcome_indeterminate", "unknown");
      expect(creates()).toHaveLength(1);
    });

    it.each(causes)(
      "upstream key, $cause: unknown and safe to repeat, on the first answer and on a repeat that fails again",
      async ({ code, timeout, fault }) => {
        const client = await start(config(timeout, true));
        env.gw.script(fault(), fault());
        const key = randomUUID();
        await refused(client.create(key, 1000), code, "unknown");
        await refused(client.create(key, 1000), code, "unknown");
        expect(creates()).toHaveLength(2);
      },
    );
  });
  return { env, start, creates };
}
