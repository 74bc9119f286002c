/**
 * The default store (sqlite) through the CLI, as a sidecar runs it: a container restart —
 * SIGKILL, OOM, node drain — must not forget what was paid. Before it was the default, the
 * memory store forgot every answer at each restart, and a retry was charged again.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { json, send } from "../support/http.js";
import { type Child, runCli, startChild, testConfigYaml, writeTempConfig } from "../support/payguard.js";
import { until } from "../support/until.js";

let gw: FakeGateway;
const children: Child[] = [];
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterEach(() => {
  for (const child of children.splice(0)) child.proc.kill("SIGKILL");
  gw.reset();
});
afterAll(async () => {
  await gw.close();
});

/** The default store, with its file in a fresh directory (the container's volume). */
function defaultStoreConfig(extra = ""): string {
  const path = join(mkdtempSync(join(tmpdir(), "payguard-default-")), "payguard.db");
  // testConfigYaml picks the memory store for tests; this one keeps the default type.
  return writeTempConfig(testConfigYaml(gw.url, `store: { type: sqlite, path: "${path}" }\n${extra}`));
}

async function start(file: string): Promise<Child> {
  const child = await startChild(file);
  children.push(child);
  return child;
}

async function sigkill(child: Child): Promise<void> {
  child.proc.kill("SIGKILL");
  await child.exited.catch(() => {});
}

const pay = (url: string, key: string) =>
  send(url, "/v1/charges", {
    method: "POST",
    headers: { authorization: "Bearer sk_test_restart", "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ amount: 1000, currency: "eur" }),
  });
const seenWith = (key: string) => gw.requests.filter((r) => r.headers["idempotency-key"] === key);

describe("the default store across a SIGKILL", () => {
  it("type sqlite is the default", async () => {
    const { stdout } = await runCli(["check", "--config", writeTempConfig('upstream: { url: "http://gw.internal" }\n')]);
    expect(stdout).toContain("store     sqlite /var/lib/payguard/payguard.db");
  });

  it("a completed payment, SIGKILL, restart, retry: a replay, and the gateway saw one request (upstreamKey false)", async () => {
    const file = defaultStoreConfig("idempotency: { upstreamKey: false }");
    const first = await start(file);
    gw.script(steps.json(201, { id: "ch_survives" }, { location: "/v1/charges/ch_survives" }));
    const key = randomUUID();
    const paid = await pay(first.url, key);
    expect(paid.status).toBe(201);
    await sigkill(first);

    const second = await start(file);
    const retry = await pay(second.url, key);
    expect(retry.status).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(json(retry)).toEqual({ id: "ch_survives" });
    expect(retry.headers.location).toBe("/v1/charges/ch_survives");
    expect(seenWith(key)).toHaveLength(1);
  });

  it("a payment in flight at the SIGKILL, no upstream key: the retry after the restart is indeterminate, never re-sent", async () => {
    const file = defaultStoreConfig("idempotency: { upstreamKey: false, lease: 1s }");
    const first = await start(file);
    gw.script(steps.delay(5_000, steps.json(201, { id: "ch_unknown" })));
    const key = randomUUID();
    const lost = pay(first.url, key).catch((err: unknown) => err);
    await until(() => seenWith(key).length === 1, "the gateway has the payment");
    await sigkill(first);
    expect(await lost).toBeInstanceOf(Error);

    const second = await start(file);
    const retry = await pay(second.url, key);
    expect(retry.status).toBe(502);
    expect(json(retry)).toMatchObject({ code: "outcome_indeterminate" });
    expect(json(await pay(second.url, key))).toMatchObject({ code: "outcome_indeterminate" });
    expect(seenWith(key)).toHaveLength(1);
  });

  it("an unusable store.path is a clear error at start, before anything listens", async () => {
    // A directory cannot be made under a regular file, whoever asks (root ignores permissions).
    const notADirectory = writeTempConfig("x: 1\n");
    const path = join(notADirectory, "sub", "payguard.db");
    const file = writeTempConfig(testConfigYaml(gw.url, `store: { type: sqlite, path: "${path}" }`));
    const { code, stderr, stdout } = await runCli(["serve", "--config", file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^payguard: cannot open the SQLite store at store\.path .*sub\/payguard\.db/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).not.toContain("listening");
  });
});
