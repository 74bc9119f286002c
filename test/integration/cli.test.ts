import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { send } from "../support/http.js";
import { type Child, runCli, startChild, startInProcess, testConfigYaml, writeTempConfig } from "../support/payguard.js";
import { startRedis, startRedisCluster, startRedisSentinel } from "../support/redis-server.js";
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

/** The store line of `check` for a file whose store section is `store` (a flow mapping), in front of Stripe. */
async function checkStore(store: string, env: Record<string, string> = {}): Promise<string> {
  const { code, stdout, stderr } = await runCli(["check", "--config", writeTempConfig(`upstream: { url: "https://api.stripe.com" }\nstore: ${store}\n`)], env);
  expect(code, stderr).toBe(0);
  return stdout;
}

/** Every JSON line the child wrote so far, parsed. */
function logLines(child: Child): Record<string, unknown>[] {
  return child.stdout.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("payguard check and the startup lines say what will run", () => {
  const PW = { PW: "hunter2-secret" };

  it("check names every store as itself with its settings, never a password", async () => {
    const cases: [string, string][] = [
      [
        '{ type: postgres, url: "postgres://pg:${PW}@db.internal:5432/pay", postgres: { schema: shop, poolSize: 4 } }',
        "  store     postgres postgres://pg:***@db.internal:5432/pay, schema shop, pool 4, ledger kept 400d,",
      ],
      [
        '{ type: postgres, postgres: { nodes: ["postgres://pg:${PW}@db1:5432/pay", "postgres://pg:${PW}@db2:5432/pay"] } }',
        "  store     postgres nodes postgres://pg:***@db1:5432/pay postgres://pg:***@db2:5432/pay (the writable one), schema payguard,",
      ],
      ['{ url: "postgresql://pg:${PW}@db.internal/pay" }', "  store     postgres postgresql://pg:***@db.internal/pay, schema payguard,"],
      ['{ url: "rediss://:${PW}@cache.internal:6380" }', "  store     redis rediss://:***@cache.internal:6380, prefix payguard,"],
      [
        '{ type: redis, sentinel: { name: pay, nodes: ["redis://:${PW}@s1:26379", "redis://:${PW}@s2:26379"] } }',
        "  store     redis sentinel pay via redis://:***@s1:26379 redis://:***@s2:26379, prefix payguard,",
      ],
      [
        '{ type: redis, cluster: { nodes: ["redis://:${PW}@c1:7000"] }, waitForReplicas: { replicas: 1 } }',
        "  store     redis cluster, seed nodes redis://:***@c1:7000, prefix payguard, writes wait for 1 replica (WAIT 100ms),",
      ],
      ["{ type: sqlite, path: /data/pay.db, synchronous: full }", "  store     sqlite /data/pay.db (synchronous full), ledger kept 400d, encryption off"],
      ["{ type: memory, maxEntries: 500 }", "  store     memory, 500 entries, 256MB (forgotten at a restart)"],
    ];
    for (const [store, line] of cases) {
      const stdout = await checkStore(store, PW);
      expect(stdout, store).toContain(line);
      expect(stdout, store).not.toContain("hunter2-secret");
    }
    expect(await checkStore('{ url: "postgres://db/pay" }')).toContain("            store.type postgres: inferred from the scheme of store.url");
    expect(await checkStore("{}")).toContain("            store.type sqlite: the default (the file names no type)");
  });

  it("check says whether the admin API is on (never its token) and prints shutdown.settleTimeout", async () => {
    const token = "admin-token-0123456789abcdef0123456789";
    const on = writeTempConfig(`upstream: { url: "http://gw:1" }\nadmin: { api: { enabled: true, token: "${token}" } }\nshutdown: { settleTimeout: 45s }\n`);
    const { code, stdout } = await runCli(["check", "--config", on]);
    expect(code, stdout).toBe(0);
    expect(stdout).toContain("            admin API on: /admin/records /admin/outcomes /admin/webhooks with the bearer token, stored bodies never shown\n");
    expect(stdout).toContain("  shutdown  readiness delay 2s, drain 30s, settle 45s");
    expect(stdout).not.toContain(token);
    const off = await runCli(["check", "--config", writeTempConfig('upstream: { url: "http://gw:1" }\n')]);
    expect(off.stdout).toContain("            admin API off (admin.api.enabled false: /admin/* answers 404)\n");
    expect(off.stdout).toContain(", settle 30s");
  });

  it("check gives the scope's upgrade note only for a store that can hold records from before gateway profiles", async () => {
    const note = "upgrading: if this Redis holds records from a payguard before gateway profiles, they have other ids now (the scope is not the generic one)";
    // Fresh configs: nothing stored can predate profiles (SQLite and PostgreSQL came after them; memory forgets).
    for (const store of ["{ type: memory }", "{ type: sqlite, path: /nonexistent/payguard/fresh.db }", '{ url: "postgres://db/pay" }']) {
      const stdout = await checkStore(store);
      expect(stdout, store).toContain('              idempotency.scope = ["authorization","stripe-account"]');
      expect(stdout, store).not.toContain("upgrading:");
    }
    // Redis was payguard's durable store before profiles; check does not connect, so the note says "if".
    expect(await checkStore('{ url: "redis://cache:6379" }')).toContain(`            ${note} (docs/gateways.md, "Upgrading")\n`);
  });

  it("check prints every listener of every gateway, interception's CA by path and the webhooks without their secret", async () => {
    const file = writeTempConfig(`
server: { host: 127.0.0.1, port: 8080 }
intercept: { ca: { certFile: /etc/payguard/ca.crt, keyFile: /etc/payguard/ca.key }, passThrough: [api.github.com] }
store: { type: sqlite, path: /data/pay.db }
gateways:
  stripe: { url: "https://api.stripe.com" }
  adyen: { url: "https://checkout-test.adyen.com/v71", port: 8082, upstream: { ca: /etc/ssl/adyen-ca.pem } }
webhooks:
  endpoints:
    - { gateway: stripe, path: /hooks/stripe, secret: "\${SECRET}", deliverTo: "http://app.internal/hooks?token=\${SECRET}" }
`);
    const { code, stdout, stderr } = await runCli(["check", "--config", file], { SECRET: "whsec_topsecret" });
    expect(code, stderr).toBe(0);
    for (const line of [
      "  proxy     127.0.0.1:8080 → gateway stripe (the first)\n",
      "  intercept TLS 0.0.0.0:443 for api.stripe.com checkout-test.adyen.com; certificates minted from the CA /etc/payguard/ca.crt (key file /etc/payguard/ca.key), valid 1d\n",
      "            HTTPS proxy mode on 127.0.0.1:8080: CONNECT to a gateway's host is intercepted; passed through untouched: api.github.com; any other host 403\n",
      "  gateway stripe: https://api.stripe.com (128 connections)\n    gateway   stripe (upstream.gateway auto",
      "              served on 127.0.0.1:8080 (server.port), TLS 0.0.0.0:443 and CONNECT as api.stripe.com (intercept)\n",
      "  gateway adyen: https://checkout-test.adyen.com/v71 (128 connections, trusts the CA file /etc/ssl/adyen-ca.pem besides the system's)\n    gateway   adyen (",
      "              served on 127.0.0.1:8082 (its own port), TLS 0.0.0.0:443 and CONNECT as checkout-test.adyen.com (intercept)\n",
      "  webhooks  0.0.0.0:8081, bodies ≤ 1MB\n",
      "            POST /hooks/stripe: gateway stripe, stripe signatures → http://app.internal/hooks?***\n",
    ])
      expect(stdout).toContain(line);
    expect(stdout).not.toContain("whsec_topsecret");
    const plain = await runCli(["check", "--config", writeTempConfig('upstream: { url: "http://gw:1" }\n')]);
    expect(plain.stdout).toContain("  intercept off (no intercept.ca)\n");
    expect(plain.stdout).toContain("  webhooks  off (no webhooks.endpoints)\n");
    expect(plain.stdout).toContain("            served on 0.0.0.0:8080 (server.port)\n");
  });

  it("serve warns when Redis runs without AOF, says so when it cannot ask, and starts either way", async () => {
    const cases = [
      { args: ["--appendonly", "no"], code: "redis_aof_off", level: "warn" },
      { args: ["--appendonly", "yes"], code: "redis_aof_on", level: "info" },
      // Managed Redis refuses CONFIG.
      { args: ["--rename-command", "CONFIG", ""], code: "redis_aof_unknown", level: "info" },
    ];
    for (const { args, code, level } of cases) {
      const redis = await startRedis(args);
      // A password, set once the helper saw it answer: the probe must authenticate as the store does, and never print it.
      const acl = spawnSync("redis-cli", ["-p", String(redis.port), "ACL", "SETUSER", "default", "resetpass", ">hunter2-secret"], { encoding: "utf8" });
      expect(acl.stdout.trim()).toBe("OK");
      const url = `redis://:hunter2-secret@127.0.0.1:${redis.port}`;
      const child = await startChild(writeTempConfig(testConfigYaml(gw.url, `store: { type: redis, url: "${url}", journal: { dir: ${redis.dir}/journal } }`)));
      try {
        await until(() => logLines(child).some((l) => String(l.code).startsWith("redis_aof_")), `payguard reports Redis's appendonly (${code})`);
        const reported = logLines(child).filter((l) => String(l.code).startsWith("redis_aof_"));
        expect(reported.map((l) => [l.code, l.level])).toEqual([[code, level]]);
        if (code !== "redis_aof_unknown") expect(reported[0]?.nodes).toEqual([`127.0.0.1:${redis.port}`]);
        // It kept serving.
        expect((await send(child.adminUrl, "/readyz")).status).toBe(200);
        expect(child.stdout.join("\n")).not.toContain("hunter2-secret");
      } finally {
        child.proc.kill("SIGTERM");
        await child.exited;
        await redis.stop();
      }
    }
  }, 30_000);

  it("serve asks every master of a Redis Cluster, and Sentinel's master, whether AOF is on", async () => {
    const cluster = await startRedisCluster();
    const sentinel = await startRedisSentinel();
    const stores = [
      { store: `{ type: redis, cluster: { nodes: ["${cluster.urls[0]}"] } }`, nodes: cluster.nodes.map((n) => `127.0.0.1:${n.port}`).sort() },
      { store: `{ type: redis, sentinel: { name: mymaster, nodes: ["${sentinel.sentinelUrl}"] } }`, nodes: ["sentinel mymaster"] },
    ];
    try {
      for (const { store, nodes } of stores) {
        const dir = mkdtempSync(join(tmpdir(), "payguard-aof-"));
        const child = await startChild(writeTempConfig(testConfigYaml(gw.url, `store: ${store.replace(/ }$/, `, journal: { dir: "${dir}" } }`)}`)));
        try {
          await until(() => logLines(child).some((l) => String(l.code).startsWith("redis_aof_")), `payguard reports appendonly for ${store}`);
          const reported = logLines(child).filter((l) => String(l.code).startsWith("redis_aof_"));
          expect(reported.map((l) => [l.code, l.level, (l.nodes as string[] | undefined)?.sort()])).toEqual([["redis_aof_off", "warn", nodes]]);
        } finally {
          child.proc.kill("SIGTERM");
          await child.exited;
        }
      }
    } finally {
      await cluster.stop();
      await sentinel.stop();
    }
  }, 60_000);

  it("the listening line names the store (SQLite's path, a shared store's hosts only) and each gateway's profile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-listening-"));
    const named = writeTempConfig(`
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0 }
shutdown: { readinessDelay: 0ms }
store: { type: sqlite, path: "${dir}/pay.db" }
gateways:
  pay: { url: "${gw.url}", upstream: { gateway: stripe } }
  eu: { url: "${gw.url}", port: 0, upstream: { gateway: adyen } }
`);
    const sqlite = await startChild(named);
    try {
      const listening = logLines(sqlite).find((l) => l.msg === "listening");
      expect(listening?.store).toEqual({ type: "sqlite", path: `${dir}/pay.db` });
      expect(listening?.profiles).toEqual({ pay: "stripe", eu: "adyen" });
    } finally {
      sqlite.proc.kill("SIGTERM");
      await sqlite.exited;
    }
    const store = `{ type: postgres, url: "postgres://postgres:hunter2-secret@127.0.0.1:5432/test", postgres: { schema: cli_listening }, journal: { dir: "${dir}/journal" } }`;
    const postgres = await startChild(writeTempConfig(testConfigYaml(gw.url, `store: ${store}`)));
    try {
      const listening = logLines(postgres).find((l) => l.msg === "listening");
      expect(listening?.store).toEqual({ type: "postgres", hosts: ["127.0.0.1:5432"] });
      expect(listening?.profiles).toEqual({ default: "generic" });
      expect(postgres.stdout.join("\n")).not.toContain("hunter2-secret");
    } finally {
      postgres.proc.kill("SIGTERM");
      await postgres.exited;
    }
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
