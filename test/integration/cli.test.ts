import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { send } from "../support/http.js";
import { runCli, startChild, startInProcess, testConfigYaml, writeTempConfig } from "../support/payguard.js";
import { until } from "../support/until.js";

let gw: FakeGateway;
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterAll(async () => {
  await gw.close();
});

describe("payguard CLI", () => {
  it("check accepts the shipped config/payguard.yaml and prints the effective settings", async () => {
    const { code, stdout } = await runCli(["check", "--config", "config/payguard.yaml"], { PAYGUARD_UPSTREAM_URL: "https://api.stripe.com" });
    expect(code).toBe(0);
    expect(stdout).toContain("config config/payguard.yaml: ok");
    expect(stdout).toContain("→ https://api.stripe.com");
    expect(stdout).toContain("body 1MB");
    expect(stdout).toContain("  tracing   off (no OpenTelemetry SDK loaded)\n");
  });

  it("check prints where traces go and how they are sampled, never the collector's credentials", async () => {
    const endpoint = "https://tenant:otlp-password@collector:4318/v1/traces?api-key=otlp-key";
    const on = writeTempConfig(`upstream: { url: "https://api.stripe.com" }\ntracing: { enabled: true, endpoint: "${endpoint}", sampleRatio: 0.25 }\n`);
    const { code, stdout } = await runCli(["check", "--config", on]);
    expect(code, stdout).toBe(0);
    expect(stdout).toContain("  tracing   OTLP/HTTP → https://tenant:***@collector:4318/v1/traces?***; new traces sampled at 0.25");
    expect(stdout).not.toMatch(/otlp-password|otlp-key/);
    const disabled = await runCli(["check", "--config", on], { OTEL_SDK_DISABLED: "true" });
    expect(disabled.stdout).toContain("  tracing   off: OTEL_SDK_DISABLED=true");
  });

  it("check prints the gateway profile in force and every default it set, for each host auto knows", async () => {
    const hosts: [string, string, string][] = [
      ["https://api.stripe.com", "stripe", 'resilience.retry.hints = ["stripe-should-retry"]'],
      ["https://checkout-test.adyen.com/v71", "adyen", "idempotency.maxKeyLength = 64"],
      ["https://api-m.sandbox.paypal.com", "paypal", 'idempotency.exempt = ["/v1/oauth2/token"]'],
      ["https://connect.squareupsandbox.com", "square", 'idempotency.bodyField = "/idempotency_key"'],
      ["https://api.sandbox.checkout.com", "checkout", 'idempotency.header = "cko-idempotency-key"'],
    ];
    for (const [url, gateway, line] of hosts) {
      const { code, stdout } = await runCli(["check", "--config", writeTempConfig(`upstream: { url: "${url}" }\n`)]);
      expect(code, stdout).toBe(0);
      expect(stdout).toContain(`gateway   ${gateway} (upstream.gateway auto: picked from the host of upstream.url)`);
      expect(stdout).toContain(`              ${line}\n`);
    }
    const generic = await runCli(["check", "--config", writeTempConfig('upstream: { url: "http://gw.internal:8443" }\n')]);
    expect(generic.stdout).toContain("gateway   generic (upstream.gateway auto");
    expect(generic.stdout).toContain("the profile set no defaults");
    // A key the file sets is the file's, not the profile's.
    const own = await runCli(["check", "--config", writeTempConfig('upstream: { url: "https://api.stripe.com" }\nidempotency: { maxKeyLength: 100 }\n')]);
    expect(own.stdout).not.toContain("idempotency.maxKeyLength =");
    expect(own.stdout).toContain("≤ 100 characters");
  });

  it("check takes the file from PAYGUARD_CONFIG when --config is absent", async () => {
    const file = writeTempConfig("upstream:\n  url: ${UP:-http://127.0.0.1:1}\n");
    const { code, stdout } = await runCli(["check"], { PAYGUARD_CONFIG: file, UP: "http://gw.internal:8443" });
    expect(code).toBe(0);
    expect(stdout).toContain("→ http://gw.internal:8443");
  });

  it("a config with three mistakes exits non-zero and names every path, before listening", async () => {
    const file = writeTempConfig(`
server: { port: 70000 }
upstream: { url: "ftp://gateway" }
limits: { maxBodySize: lots }
`);
    for (const command of [
      ["check", "--config", file],
      ["serve", "--config", file],
    ]) {
      const { code, stderr, stdout } = await runCli(command);
      expect(code).toBe(1);
      expect(stderr).toContain("server.port: must be ≤ 65535");
      expect(stderr).toContain("upstream.url: must use http or https");
      expect(stderr).toContain("limits.maxBodySize: must be a size");
      expect(stdout).not.toContain("listening");
    }
  });

  it("check refuses an idempotency.ttl shorter than a route's total timeout, naming the route", async () => {
    const file = writeTempConfig(
      'upstream: { url: "http://gw:1" }\nidempotency: { ttl: 1m, upstreamKey: false }\nroutes: [{ path: /v1/x, resilience: { timeout: { total: 2m } } }]\n',
    );
    const { code, stderr } = await runCli(["check", "--config", file]);
    expect(code).toBe(1);
    expect(stderr).toContain("routes[0].idempotency.ttl: must be ≥ resilience.timeout.total (120000ms)");
    expect(stderr).not.toContain("  - idempotency.ttl");
  });

  it("check summarises a Redis store without printing its password or encryption key", async () => {
    const file = writeTempConfig(
      'upstream: { url: "http://gw:1" }\nstore: { type: redis, url: "redis://:${PW}@redis.internal:6379", encryption: { key: "${KEY}" } }\n',
    );
    const key = Buffer.alloc(32, 3).toString("base64");
    const { code, stdout } = await runCli(["check", "--config", file], { PW: "hunter2-secret", KEY: key });
    expect(code).toBe(0);
    expect(stdout).toContain("store     redis redis://:***@redis.internal:6379, prefix payguard");
    expect(stdout).toContain("encryption on");
    expect(stdout).not.toContain("hunter2-secret");
    expect(stdout).not.toContain(key);
  });

  it("check takes store.type from the scheme of a store.url without one, and says so", async () => {
    const file = writeTempConfig('upstream: { url: "http://gw:1" }\nstore: { url: "postgres://payguard:${PW}@db.internal:5432/payments" }\n');
    const { code, stdout } = await runCli(["check", "--config", file], { PW: "hunter2-secret" });
    expect(code, stdout).toBe(0);
    expect(stdout).toContain("store     postgres postgres://payguard:***@db.internal:5432/payments, schema payguard, pool 10,");
    expect(stdout).toContain("            store.type postgres: inferred from the scheme of store.url (the file names no type)");
    expect(stdout).not.toContain("hunter2-secret");
  });

  it("check refuses every store key the store type does not use, each at its path", async () => {
    const file = writeTempConfig('upstream: { url: "http://gw:1" }\nstore: { type: sqlite, prefix: shop, onUnavailable: local, postgres: { schema: shop } }\n');
    const { code, stdout, stderr } = await runCli(["check", "--config", file]);
    expect(code).toBe(1);
    expect(stderr).toContain("store.postgres.schema: is not used by store.type sqlite, only by postgres");
    expect(stderr).toContain("store.prefix: is not used by store.type sqlite, only by redis");
    expect(stderr).toContain("store.onUnavailable: is not used by store.type sqlite, only by redis, postgres");
    expect(stdout).not.toContain(": ok");
  });

  it("prints --version and --help, and refuses unknown commands", async () => {
    const v = await runCli(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = await runCli(["--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("payguard check --config FILE");
    const bad = await runCli(["frobnicate"]);
    expect(bad.code).toBe(2);
    const none = await runCli(["check"], { PAYGUARD_CONFIG: "" });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no config file");
  });
});

describe("graceful shutdown", () => {
  it("on SIGTERM: readiness turns 503 first, the in-flight request gets the gateway's answer, exit 0", async () => {
    const file = writeTempConfig(testConfigYaml(gw.url, "shutdown: { readinessDelay: 400ms }"));
    const child = await startChild(file);
    expect((await send(child.adminUrl, "/readyz")).status).toBe(200);

    gw.script(steps.delay(1500, steps.json(201, { id: "ch_slow", paid: true }, { location: "/v1/charges/ch_slow" })));
    const seenBefore = gw.requests.length;
    const inFlight = send(child.url, "/v1/charges", { method: "POST", headers: { "idempotency-key": "shutdown-1" }, body: "amount=500" });
    await until(() => gw.requests.length > seenBefore, "the gateway has the request");
    let answered = false;
    void inFlight.then(() => {
      answered = true;
    });

    child.proc.kill("SIGTERM");
    await until(async () => (await send(child.adminUrl, "/readyz")).status === 503, "readiness turns 503");
    // Readiness went first: the request in flight is still waiting for the gateway.
    expect(answered).toBe(false);

    const answer = await inFlight;
    expect(answer.status).toBe(201);
    expect(JSON.parse(answer.body.toString())).toEqual({ id: "ch_slow", paid: true });
    expect(answer.headers.location).toBe("/v1/charges/ch_slow");
    expect(await child.exited).toBe(0);
    const messages = child.stdout.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages.indexOf("shutdown: readiness off")).toBeLessThan(messages.indexOf("shutdown: draining"));
    expect(messages).toContain("shutdown: done");
    // The listener is gone.
    await expect(send(child.url, "/v1/charges")).rejects.toThrow();
  });

  it("refuses new requests while draining with 503 shutting_down, without calling the gateway", async () => {
    const pg = await startInProcess(gw.url);
    try {
      pg.pg.deps.lifecycle.draining = true;
      const before = gw.requests.length;
      const res = await send(pg.url, "/v1/charges", { method: "POST", headers: { "idempotency-key": "drain-1" }, body: "amount=1" });
      expect(res.status).toBe(503);
      expect(JSON.parse(res.body.toString())).toMatchObject({ code: "shutting_down" });
      expect(gw.requests.length).toBe(before);
      pg.pg.deps.lifecycle.draining = false;
    } finally {
      await pg.close();
    }
  });
});
