/**
 * An in-flight record's lifetime through payguard: it lasts while its owner renews it, not
 * `idempotency.ttl` from the claim. Before, a request still in flight past the ttl was
 * forgotten, and the client's retry claimed the key as new and reached the gateway again.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { useGateway } from "../support/harness.js";
import { send } from "../support/http.js";
import { until } from "../support/until.js";

const env = useGateway();
let seq = 0;

const sqlite = () => `store: { type: sqlite, path: "${join(mkdtempSync(join(tmpdir(), "payguard-lifetime-")), "payguard.db")}" }`;

/**
 * A valid config (ttl ≥ the total timeout, no completion without an upstream key) in which a
 * request outlives the ttl: the gateway answers at once, then its body trickles for ~1.6 s.
 */
const CONFIG = `
idempotency: { ttl: 1s, lease: 200ms, upstreamKey: false }
resilience: { timeout: { attempt: 500ms, total: 1s }, retry: { maxAttempts: 1 } }
`;

describe.each([
  ["memory", ""],
  ["sqlite", "sqlite"],
])("an in-flight record on the %s store", (_name, store) => {
  it("outlives idempotency.ttl while its owner renews it: the retry waits for the answer, the gateway sees one request (regression)", async () => {
    const pg = await env.payguard(`${CONFIG}\n${store === "sqlite" ? sqlite() : ""}`);
    const key = `lifetime-${process.pid}-${++seq}`;
    const pay = () =>
      send(pg.url, "/v1/charges", {
        method: "POST",
        headers: { authorization: "Bearer sk_test_lifetime", "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ amount: 1000, currency: "eur" }),
      });
    const seen = () => env.gw.requests.filter((r) => r.headers["idempotency-key"] === key);
    env.gw.script({ status: 200, streamBytes: 9 * 1024, chunkBytes: 1024, chunkDelayMs: 200 });
    let firstDone = false;
    const first = pay().finally(() => {
      firstDone = true;
    });
    await until(() => seen().length === 1, "the first request reached the gateway");
    await sleep(1250); // past the ttl from the claim; the body is still arriving
    expect(firstDone).toBe(false);
    const retry = await pay();
    const answer = await first;
    expect(seen()).toHaveLength(1);
    expect(answer.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.body.equals(answer.body)).toBe(true);
  });
});
