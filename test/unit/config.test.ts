import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { compileRoutes } from "../../src/config/routes.js";
import { parseDuration, parseSize } from "../../src/config/units.js";
import { problemsOf } from "../support/config.js";

describe("config defaults", () => {
  it("a file with only upstream.url is complete, with the documented defaults (generic gateway)", () => {
    const { gateways, ...config } = parseConfig("upstream:\n  url: https://payments.example.com\n", {});
    // the one-gateway shorthand is the gateway "default", whose config is the file's own
    expect(gateways).toEqual([{ name: "default", port: undefined, hosts: ["payments.example.com"], scoped: false, config }]);
    expect(config).toEqual({
      server: { host: "0.0.0.0", port: 8080 },
      admin: { host: "0.0.0.0", port: 9090, api: { enabled: false, token: "", revealBodies: false } },
      upstream: {
        url: "https://payments.example.com",
        gateway: "generic",
        requestId: { header: false, field: false },
        connections: 128,
        connectTimeout: 5000,
        keepAliveTimeout: 4000,
        resolve: "auto",
        dnsServers: [],
      },
      limits: {
        maxBodySize: 1024 * 1024,
        maxBufferedBodyBytes: 64 * 1024 * 1024,
        maxHeaderSize: 16 * 1024,
        maxHeaders: 100,
        headersTimeout: 10_000,
        requestTimeout: 60_000,
      },
      shutdown: { readinessDelay: 2000, drainTimeout: 30_000, settleTimeout: 30_000 },
      reload: { watch: true, debounce: 250 },
      log: { level: "info" },
      // traces are off, and then not loaded
      // (the export settings, unset, fall to OTEL_BSP_* and then the SDK's defaults)
      tracing: { enabled: false },
      // interception is off until intercept.ca is set
      intercept: { host: "0.0.0.0", port: 443, validity: 86_400_000, passThrough: [] },
      webhooks: {
        host: "0.0.0.0",
        port: 8081,
        maxBodySize: 1_048_576,
        endpoints: [],
        delivery: { timeout: 10_000, concurrency: 4, backoff: { initial: 1000, max: 600_000 }, maxAge: 259_200_000, lease: 60_000, poll: 1000 },
        lateMatch: { window: 3_600_000, every: 1000 },
      },
      resilience: {
        timeout: { attempt: 10_000, total: 30_000 },
        retry: {
          maxAttempts: 3,
          backoff: { type: "exponential", initial: 100, max: 5000, jitter: "decorrelated" },
          on: ["connect-error", "attempt-timeout", "reset", 502, 503, 504, 429],
          hints: [],
          retryAfter: { honor: true, max: 10_000 },
          budget: { ratio: 0.2, minPerSecond: 10, window: 10_000 },
        },
        bulkhead: { maxConcurrent: 256, maxQueue: 512 },
        breaker: { type: "consecutive", threshold: 5, sampling: { failureRate: 0.5, window: 30_000, minRequests: 20 }, halfOpenAfter: 10_000 },
      },
      idempotency: {
        header: "idempotency-key",
        bodyField: false,
        maxKeyLength: 255,
        methods: ["POST", "PATCH"],
        mode: "required",
        exempt: [],
        ttl: 86_400_000,
        lease: 10_000,
        scope: ["authorization"],
        requireScope: false,
        fingerprint: { body: "canonical-json", canonicalMaxBytes: 64 * 1024, ignoreFields: [], headers: [] },
        inFlight: { strategy: "wait", maxWait: 10_000 },
        replay: ["2xx", "4xx"],
        notProcessed: [],
        maxResponseSize: 1024 * 1024,
        completion: { maxDuration: 600_000, initialDelay: 1_000, maxDelay: 30_000, maxConcurrent: 1_000 },
        ledger: { fields: ["/id"], link: "key" },
        upstreamKey: { header: "idempotency-key" },
      },
      store: {
        type: "sqlite",
        path: "/var/lib/payguard/payguard.db",
        synchronous: "normal",
        maxEntries: 100_000,
        maxSize: 256 * 1024 * 1024,
        url: "redis://127.0.0.1:6379",
        cluster: { nodes: [] },
        sentinel: { name: "mymaster", nodes: [] },
        waitForReplicas: { replicas: 0, timeout: 100 },
        postgres: { nodes: [], schema: "payguard", poolSize: 10 },
        prefix: "payguard",
        operationTimeout: 250,
        onUnavailable: "reject",
        readiness: true,
        ledger: { retention: 400 * 86_400_000 },
        journal: { dir: "/var/lib/payguard/journal", fsync: true, maxEntries: 10_000, maxBytes: 128 * 1024 * 1024 },
        encryption: { key: "" },
      },
      routes: [],
    });
  });

  it("parses durations and sizes as strings", () => {
    const config = parseConfig(
      "upstream: { url: http://gw }\nlimits: { maxBodySize: 512kb, maxHeaderSize: 8kb, headersTimeout: 250ms, requestTimeout: 2m }\nshutdown: { drainTimeout: 1h }",
      {},
    );
    expect(config.limits).toEqual({
      maxBodySize: 512 * 1024,
      maxBufferedBodyBytes: 64 * 1024 * 1024,
      maxHeaderSize: 8 * 1024,
      maxHeaders: 100,
      headersTimeout: 250,
      requestTimeout: 120_000,
    });
    expect(config.shutdown.drainTimeout).toBe(3_600_000);
  });
});

describe("units", () => {
  it.each([
    ["250ms", 250],
    ["10s", 10_000],
    ["24h", 86_400_000],
    [1500, 1500],
  ])("duration %s → %d ms", (input, expected) => expect(parseDuration(input)).toBe(expected));

  it.each(["", "soon", "-5s", "10 parsecs"])("rejects duration %j", (input) => expect(parseDuration(input)).toBeUndefined());

  it.each([
    ["1mb", 1024 * 1024],
    ["512kb", 512 * 1024],
    ["100", 100],
    [2048, 2048],
  ])("size %s → %d bytes", (input, expected) => expect(parseSize(input)).toBe(expected));

  it.each(["lots", "1zb", "-1kb", 1.5])("rejects size %j", (input) => expect(parseSize(input)).toBeUndefined());
});

describe("environment interpolation", () => {
  it("replaces ${VAR} and ${VAR:-default}, including into numbers", () => {
    const config = parseConfig("server: { port: '${PORT}' }\nupstream: { url: '${UP:-http://fallback:1}' }\nlog: { level: '${LVL:-warn}' }", {
      PORT: "8181",
      LVL: "",
    });
    expect(config.server.port).toBe(8181);
    expect(config.upstream.url).toBe("http://fallback:1");
    expect(config.log.level).toBe("warn");
  });

  it("reports an unset variable without a default at its path", () => {
    expect(problemsOf("upstream:\n  url: ${GATEWAY_URL}\n")).toContain(
      "upstream.url: environment variable GATEWAY_URL is not set (use ${GATEWAY_URL:-default} for a default)",
    );
  });
});

describe("store keys by store type (review finding)", () => {
  const storeOf = (store: string) => parseConfig(`upstream: { url: "http://gw" }\nstore: ${store}\n`, {}).store;
  const storeProblems = (store: string) => problemsOf(`upstream: { url: "http://gw" }\nstore: ${store}\n`);

  it.each([
    ["postgres://db/payments", "postgres"],
    ["postgresql://db/payments", "postgres"],
    ["redis://redis:6379", "redis"],
    ["rediss://redis:6380", "redis"],
  ])("a store.url %s without store.type takes the type from its scheme (%s), never a per-replica sqlite file", (url, type) => {
    expect(storeOf(`{ url: "${url}" }`)).toMatchObject({ type, url });
  });

  it("a store key that sqlite (the default type) does not use is an error at its path, every one listed together", () => {
    expect(storeProblems("{ type: sqlite, prefix: shop, onUnavailable: local, postgres: { schema: shop } }")).toEqual([
      "store.postgres.schema: is not used by store.type sqlite, only by postgres",
      "store.prefix: is not used by store.type sqlite, only by redis",
      "store.onUnavailable: is not used by store.type sqlite, only by redis, postgres",
    ]);
    expect(storeProblems("{ journal: { fsync: false } }")).toEqual([
      "store.journal.fsync: is not used by store.type sqlite (the default), only by redis, postgres",
    ]);
    expect(storeProblems("{ url: redis://r:6379, path: /data/p.db }")).toEqual([
      "store.path: is not used by store.type redis (from store.url), only by sqlite",
    ]);
  });

  it.each([
    [
      "memory",
      "{ type: memory, url: redis://r:6379, path: /tmp/x.db, encryption: { key: '' }, ledger: { retention: 30d }, readiness: false }",
      ["path", "url", "readiness", "ledger.retention", "encryption.key"],
    ],
    [
      "redis",
      "{ type: redis, path: /tmp/x.db, synchronous: full, postgres: { poolSize: 3 }, ledger: { retention: 30d } }",
      ["path", "synchronous", "postgres.poolSize", "ledger.retention"],
    ],
    [
      "postgres",
      "{ type: postgres, url: postgres://db/x, prefix: p, cluster: { nodes: [] }, sentinel: { name: m }, waitForReplicas: { replicas: 0 }, path: /tmp/x.db }",
      ["path", "cluster.nodes", "sentinel.name", "waitForReplicas.replicas", "prefix"],
    ],
  ])("under store.type %s, every key it does not use is an error at its path", (_type, store, paths) => {
    expect(storeProblems(store).map((p) => p.slice(0, p.indexOf(":")))).toEqual(paths.map((path) => `store.${path}`));
  });

  it("a store url the type also has nodes for is an error: the nodes win, the url would be ignored", () => {
    expect(storeProblems('{ type: postgres, url: postgres://a/x, postgres: { nodes: ["postgres://b/x"] } }')).toEqual([
      "store.url: is not used when store.postgres.nodes is set (list every node there)",
    ]);
    expect(storeProblems('{ type: redis, url: redis://a:6379, cluster: { nodes: ["redis://b:6379"] } }')).toEqual([
      "store.url: is not used when store.cluster.nodes is set (the nodes' URLs are)",
    ]);
    expect(storeProblems('{ type: redis, cluster: { nodes: ["redis://b:6379"] }, sentinel: { nodes: ["redis://s:26379"] } }')).toEqual([
      "store.cluster.nodes: is not used when store.sentinel.nodes is set: name one topology",
    ]);
  });

  it("every key a type uses is accepted, and the effective store keeps every default", () => {
    const key = Buffer.alloc(32, 1).toString("base64");
    expect(storeOf("{ type: memory, maxEntries: 10, maxSize: 2mb }")).toMatchObject({
      type: "memory",
      maxEntries: 10,
      maxSize: 2 * 1024 * 1024,
      path: "/var/lib/payguard/payguard.db",
    });
    expect(storeOf(`{ type: sqlite, path: /d/p.db, synchronous: full, ledger: { retention: 30d }, encryption: { key: "${key}" } }`)).toMatchObject({
      type: "sqlite",
      path: "/d/p.db",
      synchronous: "full",
      ledger: { retention: 30 * 86_400_000 },
      prefix: "payguard",
    });
    const shared = `operationTimeout: 1s, onUnavailable: local, readiness: false, journal: { dir: /j }, encryption: { key: "${key}" }, maxEntries: 5, maxSize: 2mb`;
    expect(
      storeOf(`{ type: redis, url: redis://r:6379, prefix: p, waitForReplicas: { replicas: 1, timeout: 50ms }, sentinel: { name: m }, ${shared} }`),
    ).toMatchObject({ type: "redis", prefix: "p", onUnavailable: "local", maxEntries: 5 });
    expect(storeOf(`{ type: postgres, postgres: { nodes: ["postgres://a/x"], schema: s, poolSize: 2 }, ledger: { retention: 30d }, ${shared} }`)).toMatchObject(
      { type: "postgres", postgres: { nodes: ["postgres://a/x"], schema: "s" } },
    );
  });
});

describe("config errors", () => {
  it("a route whose section is not an object is a problem at its path, not a crash (found in the reshape)", () => {
    expect(problemsOf('upstream: { url: "http://gw" }\nroutes: [{ path: /, idempotency: abc }]')).toEqual([
      "routes[0].idempotency: must be a mapping (got a string)",
    ]);
  });

  it("store.waitForReplicas is Redis's (WAIT); other stores are told where to look", () => {
    const problems = problemsOf(
      "upstream: { url: http://gw }\nstore: { type: postgres, url: postgres://db/x, waitForReplicas: { replicas: 1, timeout: 0 } }\n",
    );
    expect(problems).toEqual([
      "store.waitForReplicas.timeout: must be ≥ 1ms",
      "store.waitForReplicas.replicas: is not used by store.type postgres, only by redis (PostgreSQL: synchronous replication, see docs)",
      "store.waitForReplicas.timeout: is not used by store.type postgres, only by redis (PostgreSQL: synchronous replication, see docs)",
    ]);
    const redis = parseConfig("upstream: { url: http://gw }\nstore: { type: redis, waitForReplicas: { replicas: 2, timeout: 50ms } }\n", {});
    expect(redis.store.waitForReplicas).toEqual({ replicas: 2, timeout: 50 });
  });

  it("lists every problem with its path at once", () => {
    const problems = problemsOf(`
server: { port: 99999, hots: x }
upstream: { url: "http://user:pw@gw", connections: 0 }
limits: { maxBodySize: huge, headersTimeout: 2m, requestTimeout: 1m }
log: { level: loud }
resilience: { timeout: { attempt: 40s, total: 30s }, retry: { maxAttempts: 11, on: [teapot] } }
routes:
  - { path: v1/charges, methods: [FETCH] }
  - { name: "bad name!", path: /x }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        "server.port: must be ≤ 65535",
        "server.hots: unknown key",
        "upstream.url: must not carry credentials; the client's own headers are forwarded",
        "upstream.connections: must be ≥ 1",
        'limits.maxBodySize: must be a size such as "512kb" or "1mb" (got "huge")',
        "limits.headersTimeout: must be ≤ limits.requestTimeout",
        'log.level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent" (got "loud")',
        "resilience.timeout.attempt: must be ≤ resilience.timeout.total",
        "resilience.retry.maxAttempts: must be ≤ 10",
        "routes[0].path: must start with '/'",
        'routes[0].methods[0]: must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" (got "FETCH")',
        'resilience.retry.on[0]: must be "connect-error", "attempt-timeout", "reset", "5xx" or a status code 400–599 (got "teapot")',
        "routes[1].name: must be 1-64 letters, digits, '_', '.' or '-'",
      ]),
    );
    expect(problems).toHaveLength(13);
  });

  it("refuses an encryption key that is not base64 AES-256 keys, naming its position and never its value (review finding)", () => {
    expect(problemsOf('upstream: { url: "http://gw" }\nstore: { encryption: { key: not-a-key } }')).toEqual([
      "store.encryption.key: encryption key #1 of 1 is not valid base64",
    ]);
    const short = Buffer.alloc(16, 7).toString("base64");
    const good = Buffer.alloc(32, 7).toString("base64");
    expect(problemsOf(`upstream: { url: "http://gw" }\nstore: { encryption: { key: "${good},${short}" } }`)).toEqual([
      expect.stringMatching(/^store\.encryption\.key: encryption key #2 of 2 is 16 bytes; AES-256 needs 32/),
    ]);
    expect(parseConfig(`upstream: { url: "http://gw" }\nstore: { encryption: { key: "${good}" } }`, {}).store.encryption.key).toBe(good);
  });

  it("checks each route's maxResponseSize against store.maxSize, not only the top level's (review finding)", () => {
    expect(
      problemsOf(
        'upstream: { url: "http://gw" }\nstore: { type: memory, maxSize: 2mb }\nroutes: [{ path: /v1/exports, idempotency: { maxResponseSize: 10mb } }]',
      ),
    ).toEqual(["routes[0].idempotency.maxResponseSize: must be at least 64kb below store.maxSize"]);
    expect(() =>
      parseConfig(
        'upstream: { url: "http://gw" }\nstore: { type: memory, maxSize: 2mb }\nroutes: [{ path: /v1/x, idempotency: { maxResponseSize: 1mb } }]',
        {},
      ),
    ).not.toThrow();
  });

  it("refuses an idempotency.ttl shorter than the total timeout plus completion's maxDuration, top level and per route", () => {
    // Defaults: total 30s, completion 10m with the upstream key in a header.
    expect(problemsOf('upstream: { url: "http://gw" }\nidempotency: { ttl: 5m }')).toEqual([
      "idempotency.ttl: must be ≥ resilience.timeout.total + idempotency.completion.maxDuration (630000ms)",
    ]);
    // Without an upstream key (or with maxDuration 0) there is no completion: the total timeout alone.
    expect(problemsOf('upstream: { url: "http://gw" }\nidempotency: { ttl: 10s, upstreamKey: false }')).toEqual([
      "idempotency.ttl: must be ≥ resilience.timeout.total (30000ms)",
    ]);
    expect(() => parseConfig('upstream: { url: "http://gw" }\nidempotency: { ttl: 30s, upstreamKey: false }', {})).not.toThrow();
    expect(() => parseConfig('upstream: { url: "http://gw" }\nidempotency: { ttl: 30s, completion: { maxDuration: 0 } }', {})).not.toThrow();
    // A route is judged on its effective values: what it sets over what it inherits.
    const routes = `
upstream: { url: "http://gw" }
idempotency: { ttl: 1h }
routes:
  - { path: /v1/exports, resilience: { timeout: { total: 2h } } }
  - { path: /v1/quick, idempotency: { ttl: 1s, upstreamKey: false }, resilience: { timeout: { attempt: 1s, total: 1s } } }
  - { path: /v1/slow, idempotency: { completion: { maxDuration: 1h } } }
  - { path: /v1/other }
`;
    expect(problemsOf(routes)).toEqual([
      "routes[0].idempotency.ttl: must be ≥ resilience.timeout.total + idempotency.completion.maxDuration (7800000ms)",
      "routes[2].idempotency.ttl: must be ≥ resilience.timeout.total + idempotency.completion.maxDuration (3630000ms)",
    ]);
  });

  it("reports a missing upstream.url and YAML syntax errors with positions", () => {
    expect(problemsOf("server: { port: 1 }")).toEqual(["upstream: is required"]);
    const [yamlProblem] = problemsOf("upstream: [\n");
    expect(yamlProblem).toMatch(/^yaml: .*line \d+, column \d+/);
  });

  it("rejects a document that is not a mapping", () => {
    expect(problemsOf("- a\n- b\n")).toEqual(["(root): must be a mapping of sections"]);
  });
});

describe("routes", () => {
  const config = parseConfig(
    `
upstream: { url: http://gw }
resilience: { timeout: { attempt: 5s, total: 20s } }
routes:
  - { name: refunds, methods: [post], path: /v1/refunds, resilience: { timeout: { attempt: 2s } } }
  - { name: charge-by-id, path: "/v1/charges/:id" }
  - { name: v1, path: "/v1/*" }
`,
    {},
  );
  const table = compileRoutes(config);

  it("picks the first matching route by method and path, else the default", () => {
    expect(table.match("POST", "/v1/refunds").name).toBe("refunds");
    expect(table.match("GET", "/v1/refunds").name).toBe("v1");
    expect(table.match("GET", "/v1/charges/ch_1").name).toBe("charge-by-id");
    expect(table.match("GET", "/v2/other").name).toBe("default");
  });

  it("merges idempotency overrides key by key, replacing arrays", () => {
    const merged = compileRoutes(
      parseConfig(
        "upstream: { url: http://gw }\nidempotency: { scope: [authorization, stripe-account] }\nroutes:\n  - { path: /v1/refunds, idempotency: { inFlight: { strategy: reject }, replay: [2xx], upstreamKey: false } }\n",
        {},
      ),
    ).match("POST", "/v1/refunds").idempotency;
    expect(merged.inFlight).toEqual({ strategy: "reject", maxWait: 10_000 });
    expect(merged.replay).toEqual(["2xx"]);
    expect(merged.upstreamKey).toBe(false);
    expect(merged.scope).toEqual(["authorization", "stripe-account"]);
    expect(merged.mode).toBe("required");
  });

  it("overrides only the keys a route sets", () => {
    expect(table.match("POST", "/v1/refunds").resilience.timeout).toEqual({ attempt: 2000, total: 20_000 });
    expect(table.match("POST", "/v1/refunds").resilience.retry.maxAttempts).toBe(3);
    expect(table.match("GET", "/v1/x").resilience.timeout).toEqual({ attempt: 5000, total: 20_000 });
  });
});
