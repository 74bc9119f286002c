import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { createMetrics } from "../../src/metrics/registry.js";
import { createStore } from "../../src/store/create.js";

describe("journal at rest", () => {
  it("with encryption on, journaled answers hold no plaintext and read back intact", async () => {
    const dir = mkdtempSync(join(tmpdir(), "payguard-journal-enc-"));
    const key = Buffer.alloc(32, 9).toString("base64");
    // Redis unreachable (nothing listens on port 9), local mode: answers go to the journal.
    const config = parseConfig(
      `upstream: { url: "http://gw" }\nstore: { type: redis, url: "redis://127.0.0.1:9", operationTimeout: 100ms, onUnavailable: local, journal: { dir: "${dir}" }, encryption: { key: "${key}" } }`,
      {},
    ).store;
    const store = await createStore(config, { metrics: createMetrics({ defaultMetrics: false }), logger: createLogger("silent") });
    try {
      expect((await store.claim("k1", { token: "t", fingerprint: "fp", leaseMs: 60_000, ttlMs: 60_000 })).outcome).toBe("claimed");
      const body = Buffer.from('{"id":"ch_journal_secret","card_last4":"4242"}');
      const record = {
        state: "completed" as const,
        fingerprint: "fp",
        createdAt: 1,
        completedAt: 2,
        response: { status: 201, headers: { location: "/v1/charges/ch_journal_secret" }, body },
      };
      expect(await store.complete("k1", "t", record, 60_000)).toBe(true);

      const files = readdirSync(dir);
      expect(files.length).toBeGreaterThan(0);
      const onDisk = files.map((f) => readFileSync(join(dir, f), "utf8")).join("");
      expect(onDisk).toContain('"key":"k1"');
      expect(onDisk).not.toContain("ch_journal_secret");
      expect(onDisk).not.toContain(body.toString("base64"));

      const got = await store.get("k1");
      expect(got?.state).toBe("completed");
      if (got?.state !== "completed") throw new Error("unreachable");
      expect(got.response.status).toBe(201);
      expect(got.response.headers).toEqual({ location: "/v1/charges/ch_journal_secret" });
      expect(got.response.body.equals(body)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
