/**
 * The benchmark starts payguard with configs of its own (bench/targets.ts); a config rule
 * that refuses them would stop `npm run bench` at its first target, unseen by the suite (it
 * did: store keys of another type and a ttl shorter than the total timeout). Each store the
 * bench and its curves use must load.
 */
import { describe, expect, it } from "vitest";
import { payguardYaml } from "../../bench/targets.js";
import { parseConfig } from "../../src/config/load.js";

const at = { port: 8080, adminPort: 9090, sqlitePath: "/tmp/bench.db", journalDir: "/tmp/bench-journal" };
const STORES = {
  memory: undefined,
  sqlite: "type: sqlite",
  redis: 'type: redis, url: "redis://127.0.0.1:6379", prefix: "bench"',
  postgres: 'type: postgres, url: "postgres://postgres@127.0.0.1:5432/test", postgres: { schema: bench }, operationTimeout: 2s',
};

describe("the bench's payguard configs", () => {
  for (const [kind, store] of Object.entries(STORES)) {
    it(`load with the ${kind} store, default and long ttl`, () => {
      for (const ttl of [undefined, "24h"]) {
        const yaml = payguardYaml({ upstreamUrl: "http://127.0.0.1:1", store, ttl, config: ["limits: { maxBodySize: 2mb }"] }, at);
        expect(parseConfig(yaml, {}).store.type).toBe(kind);
      }
    });
  }

  it("load with interception: the upstream as the gateway for the TLS name, on its own TLS port", () => {
    const ca = { certPath: "/tmp/bench-ca/ca.crt", keyPath: "/tmp/bench-ca/ca.key", cert: "" };
    const yaml = payguardYaml({ upstreamUrl: "http://127.0.0.1:1", tls: { servername: "api.stripe.com", ca } }, { ...at, interceptPort: 8443 });
    const config = parseConfig(yaml, {});
    expect(config.intercept).toMatchObject({ host: "127.0.0.1", port: 8443, ca: { certFile: ca.certPath, keyFile: ca.keyPath } });
    expect(config.gateways.map((g) => [g.name, g.hosts, g.config.upstream.url, g.config.upstream.connections])).toEqual([
      ["stripe", ["api.stripe.com"], "http://127.0.0.1:1", 64],
    ]);
    expect(config.upstream.gateway).toBe("generic");
  });
});
