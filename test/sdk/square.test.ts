/**
 * The square SDK with only its base URL changed. Square's key is the body field
 * `idempotency_key` (the SDK sends no header): the square profile reads it from there, and
 * the body goes upstream byte for byte, so Square's own dedupe still sees it.
 */
import { randomUUID } from "node:crypto";
import { SquareClient, SquareError } from "square";
import { describe, expect, it } from "vitest";
import { steps } from "../support/fake-gateway.js";
import { send } from "../support/http.js";
import { describeSdk } from "./contract.js";

const square = describeSdk("square", {
  gateway: "square",
  client: (baseUrl) => {
    const square = new SquareClient({ baseUrl, token: "sq0atp-payguard", maxRetries: 0 });
    return {
      create: (key, amount) =>
        square.payments.create({ sourceId: "cnon:card-nonce-ok", idempotencyKey: key, amountMoney: { amount: BigInt(amount), currency: "USD" } }),
    };
  },
  isCreate: (req) => req.method === "POST" && req.url === "/v2/payments",
  created: steps.json(200, { payment: { id: "R2B3Z8WMVt3EAmzYWLZvz7Y69EbZY", status: "COMPLETED", amount_money: { amount: 1000, currency: "USD" } } }),
  idOf: (result) => (result as { payment?: { id?: string } }).payment?.id,
  ownError: (err) => err instanceof SquareError,
  // Square's own `code` is its enum (CONFLICT, ...); payguard's code leads the error's detail.
  codeOf: (err) => (err as SquareError).errors[0]?.detail?.split(":")[0],
  // SquareError copies the body's `errors` as they are.
  outcomeOf: (err) => ((err as SquareError).errors[0] as { outcome?: unknown } | undefined)?.outcome,
});

describe("square: the key in the body", () => {
  it("reaches Square inside the body, byte for byte, with no header added", async () => {
    const client = await square.start();
    const key = randomUUID();
    await client.create(key, 1000);
    const [seen] = square.creates();
    expect(JSON.parse(seen?.body.toString("utf8") ?? "{}")).toMatchObject({ idempotency_key: key });
    expect(seen?.headers["idempotency-key"]).toBeUndefined();
  });

  it("lets payguard retry a 503, since Square dedupes by the key in the body it resends unchanged", async () => {
    const client = await square.start("resilience: { retry: { backoff: { initial: 10ms } } }");
    square.env.gw.script(steps.unavailable());
    await client.create(randomUUID(), 1000);
    const [first, second] = square.creates();
    expect(square.creates()).toHaveLength(2);
    expect(second?.body.equals(first?.body ?? Buffer.alloc(0))).toBe(true);
  });

  it("a key sent only as a header reaches Square nowhere: payguard does not re-send that request (review finding)", async () => {
    const pg = await square.env.payguard("resilience: { retry: { backoff: { initial: 10ms } } }", { url: square.env.gw.url, gateway: "square" });
    square.env.gw.script(steps.unavailable());
    const answer = await send(pg.url, "/v2/payments", {
      method: "POST",
      headers: { authorization: "Bearer sq0atp-payguard", "content-type": "application/json", "idempotency-key": randomUUID() },
      body: JSON.stringify({ source_id: "cnon:card-nonce-ok", amount_money: { amount: 1000, currency: "USD" } }),
    });
    expect(answer.status).toBe(503);
    expect(square.creates()).toHaveLength(1);
  });

  it("forwards the body exactly as the client wrote it (spacing, member order)", async () => {
    const pg = await square.env.payguard("", { url: square.env.gw.url, gateway: "square" });
    const body = `{ "idempotency_key" : "${randomUUID()}",\n  "source_id":"cnon:x",   "amount_money":{"currency":"USD","amount":1000} }`;
    await send(pg.url, "/v2/payments", { method: "POST", headers: { authorization: "Bearer sq0atp-payguard", "content-type": "application/json" }, body });
    expect(square.creates()[0]?.body.toString("utf8")).toBe(body);
  });
});
