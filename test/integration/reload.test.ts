/**
 * Config hot reload: the file (published the way a Kubernetes ConfigMap update does it, by
 * swapping a `..data` symlink) or SIGHUP; atomic swaps under load; invalid configs rejected
 * with the old one kept; breaker state kept across reloads that do not touch it; requests
 * in flight finish under the policies they started with.
 */

import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { createConfigReloader } from "../../src/config/reload.js";
import { createLogger } from "../../src/log.js";
import { createMetrics } from "../../src/metrics/registry.js";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { useGateway } from "../support/harness.js";
import { json, send } from "../support/http.js";
import { sample } from "../support/metrics.js";
import { type Child, startChild, testConfigYaml } from "../support/payguard.js";
import { until } from "../support/until.js";

/** A config directory laid out like a mounted ConfigMap: payguard.yaml → ..data/payguard.yaml, ..data → ..vN. */
function configMapDir(firstYaml: string) {
  const dir = mkdtempSync(join(tmpdir(), "payguard-configmap-"));
  let version = 0;
  const publish = (yaml: string) => {
    version += 1;
    const target = `..v${version}`;
    mkdirSync(join(dir, target));
    writeFileSync(join(dir, target, "payguard.yaml"), yaml);
    symlinkSync(target, join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  };
  publish(firstYaml);
  symlinkSync(join("..data", "payguard.yaml"), join(dir, "payguard.yaml"));
  return { file: join(dir, "payguard.yaml"), publish };
}

async function metric(adminUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return sample((await send(adminUrl, "/metrics")).body.toString(), name, labels);
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 32 });

/** POSTs with the headers flushed at once and the body `delayMs` later; resolves with the status (0: failed). */
function postLate(base: string, id: string, body: Buffer, delayMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(new URL("/v1/charges", base), {
      method: "POST",
      agent: keepAlive,
      headers: { "content-type": "application/json", "content-length": body.length, "x-request-id": id, "idempotency-key": id },
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.flushHeaders();
    setTimeout(() => req.end(body), delayMs);
  });
}

interface AccessLine {
  msg?: string;
  reqId?: string;
  gen?: number;
  status?: number;
}

describe("reload from the file (ConfigMap symlink swap) and SIGHUP, through the CLI", () => {
  let gwA: FakeGateway;
  let gwB: FakeGateway;
  const children: Child[] = [];
  beforeAll(async () => {
    [gwA, gwB] = await Promise.all([startFakeGateway(), startFakeGateway()]);
  });
  afterAll(async () => {
    for (const child of children) child.proc.kill("SIGKILL");
    await Promise.all([gwA.close(), gwB.close()]);
  });
  const start = async (file: string) => {
    const child = await startChild(file);
    children.push(child);
    return child;
  };
  /** Generation g sends to gateway A when odd, B when even: where a request went tells which config it ran under. */
  const yamlFor = (generation: number, extra = "", reload = "{ debounce: 20ms }") =>
    testConfigYaml(generation % 2 === 1 ? gwA.url : gwB.url, `reload: ${reload}\n${extra}`);

  it("20 swaps while 2,000 requests run: none is lost, each ran under exactly one generation", { timeout: 60_000 }, async () => {
    const { file, publish } = configMapDir(yamlFor(1));
    const pg = await start(file);
    const swaps = 20;
    let swapping = true;
    let sent = 0;
    const statuses = new Map<string, number>();
    const worker = async () => {
      while (swapping || sent < 2_000) {
        const id = `reload-${++sent}`;
        // The body comes a little after the headers: the request is routed (pinned to a
        // generation) well before it is forwarded, so swaps land in between.
        const answer = await postLate(pg.url, id, Buffer.from(JSON.stringify({ amount: 100 + sent })), 5 + (sent % 20));
        statuses.set(id, answer);
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    for (let generation = 2; generation <= swaps + 1; generation++) {
      publish(yamlFor(generation));
      await until(async () => (await metric(pg.adminUrl, "payguard_config_generation")) === generation, `generation ${generation}`);
      await sleep(30);
    }
    swapping = false;
    await load;

    // No request lost: every one was answered by the gateway, through payguard.
    expect(statuses.size).toBeGreaterThanOrEqual(2_000);
    const failed = [...statuses].filter(([, status]) => status !== 200);
    expect(failed).toEqual([]);
    // Each request's access line names one generation, and it reached that generation's gateway (only).
    const access = new Map<string, AccessLine>();
    await until(async () => pg.stdout.filter((l) => l.includes('"msg":"request"')).length >= statuses.size, "access lines");
    for (const line of pg.stdout) {
      const entry = JSON.parse(line) as AccessLine;
      if (entry.msg === "request" && entry.reqId) access.set(entry.reqId, entry);
    }
    const seenA = new Set(gwA.requests.map((r) => r.headers["x-request-id"]));
    const seenB = new Set(gwB.requests.map((r) => r.headers["x-request-id"]));
    const wrong: string[] = [];
    const generations = new Set<number>();
    for (const id of statuses.keys()) {
      const gen = access.get(id)?.gen;
      if (gen === undefined) {
        wrong.push(`${id}: no generation logged`);
        continue;
      }
      generations.add(gen);
      const [expected, other] = gen % 2 === 1 ? [seenA, seenB] : [seenB, seenA];
      if (!expected.has(id) || other.has(id)) wrong.push(`${id}: generation ${gen}, gateway A ${seenA.has(id)}, B ${seenB.has(id)}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    // The swaps really happened during the load.
    expect(generations.size).toBeGreaterThanOrEqual(10);
    expect(await metric(pg.adminUrl, "payguard_config_reloads_total", { result: "applied" })).toBe(swaps);
  });

  it("an invalid config pushed live is rejected with every problem logged; the old policies stay", async () => {
    const { file, publish } = configMapDir(yamlFor(1));
    const pg = await start(file);
    publish(yamlFor(2, "server: { port: 70000 }\nlimits: { maxBodySize: lots }"));
    await until(async () => (await metric(pg.adminUrl, "payguard_config_reloads_total", { result: "rejected" })) === 1, "the rejection");

    expect(await metric(pg.adminUrl, "payguard_config_generation")).toBe(1);
    // Log lines are written in batches (at most LOG_FLUSH_MS late).
    const rejection = () =>
      pg.stdout.map((l) => JSON.parse(l) as { msg?: string; problems?: string[] }).find((e) => e.msg?.startsWith("config reload rejected"));
    await until(async () => rejection() !== undefined, "the rejection's log line");
    const line = rejection();
    expect(line?.problems).toEqual(expect.arrayContaining([expect.stringContaining("server.port"), expect.stringContaining("limits.maxBodySize")]));
    // Still generation 1: gateway A.
    const before = gwA.requests.length;
    const answer = await send(pg.url, "/v1/balance");
    expect(answer.status).toBe(200);
    expect(gwA.requests.length).toBe(before + 1);

    // Fixed: applied.
    publish(yamlFor(2));
    await until(async () => (await metric(pg.adminUrl, "payguard_config_generation")) === 2, "generation 2");
    const beforeB = gwB.requests.length;
    expect((await send(pg.url, "/v1/balance")).status).toBe(200);
    expect(gwB.requests.length).toBe(beforeB + 1);
  });

  it("with watch off, only SIGHUP reloads; SIGHUP on an unchanged file counts as unchanged", async () => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-sighup-"));
    const file = join(dir, "payguard.yaml");
    writeFileSync(file, yamlFor(1, "", "{ watch: false }"));
    const pg = await start(file);
    writeFileSync(file, yamlFor(2, "", "{ watch: false }"));
    await sleep(300);
    expect(await metric(pg.adminUrl, "payguard_config_generation")).toBe(1);
    pg.proc.kill("SIGHUP");
    await until(async () => (await metric(pg.adminUrl, "payguard_config_generation")) === 2, "generation 2 after SIGHUP");
    pg.proc.kill("SIGHUP");
    await until(async () => (await metric(pg.adminUrl, "payguard_config_reloads_total", { result: "unchanged" })) === 1, "unchanged");
    expect(await metric(pg.adminUrl, "payguard_config_generation")).toBe(2);
  });
});

describe("the reloader after close (shutting down)", () => {
  it("applies nothing: a new generation would open a pool the drain has already passed (review finding)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-closed-"));
    const file = join(dir, "payguard.yaml");
    const first = testConfigYaml("http://127.0.0.1:9");
    writeFileSync(file, first);
    const applied: number[] = [];
    const reloader = createConfigReloader({
      file,
      loadedText: first,
      apply: () => {
        applied.push(1);
        return { result: "applied", generation: 2, restartRequired: [] };
      },
      watch: false,
      debounceMs: 10,
      logger: createLogger("silent"),
      metrics: createMetrics({ defaultMetrics: false }),
    });
    writeFileSync(file, testConfigYaml("http://127.0.0.1:10"));
    expect(await reloader.reload("signal")).toMatchObject({ result: "applied" });
    writeFileSync(file, testConfigYaml("http://127.0.0.1:11"));
    reloader.close();
    expect(await reloader.reload("signal")).toMatchObject({ result: "unchanged" });
    expect(applied).toHaveLength(1);
  });
});

describe("what a reload keeps and what it changes (in process)", () => {
  const env = useGateway();
  const reload = (pg: { pg: { reload: (c: ReturnType<typeof parseConfig>) => unknown } }, extra: string) =>
    pg.pg.reload(parseConfig(testConfigYaml(env.gw.url, extra), {}));
  const breaker = "resilience: { retry: { maxAttempts: 1 }, breaker: { threshold: 2, halfOpenAfter: 30s } }";

  it("an open breaker stays open across a reload that does not touch it, and starts closed after one that does", async () => {
    const pg = await env.payguard(breaker);
    env.gw.setDefault(steps.unavailable());
    for (let i = 0; i < 2; i++) expect((await send(pg.url, "/v1/balance")).status).toBe(503);
    const seen = env.gw.requests.length;
    const open = await send(pg.url, "/v1/balance");
    expect(json(open)).toMatchObject({ code: "circuit_open" });

    expect(reload(pg, `${breaker}\nlimits: { maxBodySize: 2mb }\nroutes: [ { path: /v1/refunds, idempotency: { mode: off } } ]`)).toMatchObject({
      result: "applied",
      generation: 2,
    });
    expect(json(await send(pg.url, "/v1/balance"))).toMatchObject({ code: "circuit_open" });
    expect(env.gw.requests.length).toBe(seen);
    // New pool settings, same gateway: a new pool, the same (open) breaker.
    const biggerPool = testConfigYaml(env.gw.url, breaker).replace(`upstream: { url: "${env.gw.url}" }`, `upstream: { url: "${env.gw.url}", connections: 8 }`);
    expect(pg.pg.reload(parseConfig(biggerPool, {}))).toMatchObject({ result: "applied", generation: 3 });
    expect(json(await send(pg.url, "/v1/balance"))).toMatchObject({ code: "circuit_open" });
    expect(env.gw.requests.length).toBe(seen);

    reload(pg, "resilience: { retry: { maxAttempts: 1 }, breaker: { threshold: 3, halfOpenAfter: 30s } }");
    env.gw.setDefault(steps.json(200, { ok: true }));
    expect((await send(pg.url, "/v1/balance")).status).toBe(200);
    expect(env.gw.requests.length).toBe(seen + 1);
  });

  it("a request in flight finishes under the policy it started with; the next one gets the new one", async () => {
    const pg = await env.payguard("resilience: { timeout: { attempt: 2s, total: 3s }, retry: { maxAttempts: 1 } }");
    env.gw.script(steps.delay(400, steps.json(200, { slow: true })), steps.delay(400, steps.json(200, { slow: true })));
    const seen = env.gw.requests.length;
    const inFlight = send(pg.url, "/v1/balance");
    await until(() => env.gw.requests.length > seen, "the gateway has the request");
    reload(pg, "resilience: { timeout: { attempt: 100ms, total: 3s }, retry: { maxAttempts: 1 } }");
    const old = await inFlight;
    expect(old.status).toBe(200);
    expect(json(old)).toEqual({ slow: true });
    const next = await send(pg.url, "/v1/balance");
    expect(json(next)).toMatchObject({ code: "upstream_timeout" });
  });

  it("listener and store changes are reported as needing a restart; the rest applies", async () => {
    const pg = await env.payguard();
    const changed = "limits: { headersTimeout: 5s }\nstore: { maxEntries: 10 }\nidempotency: { mode: off }";
    const outcome = reload(pg, changed);
    expect(outcome).toMatchObject({ result: "applied", restartRequired: ["store", "limits.headersTimeout"] });
    expect(await metric(pg.adminUrl, "payguard_config_restart_required")).toBe(1);
    // idempotency off applied: a keyless POST passes.
    expect((await send(pg.url, "/v1/charges", { method: "POST", body: "{}" })).status).toBe(200);
    // Same config again: unchanged, nothing swapped.
    const again = reload(pg, changed);
    expect(again).toMatchObject({ result: "unchanged", generation: 2 });
  });
});
