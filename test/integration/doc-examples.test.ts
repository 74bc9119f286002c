/**
 * Every command the docs show, run against a real payguard, so a doc that drifts from the code
 * turns CI red:
 * - the admin API's and the runbook's shell blocks, through the real `curl` (each call must
 *   succeed: `--fail-with-body`), on SQLite and on PostgreSQL, against a payment whose outcome
 *   is really unknown (the gateway drops the connection);
 * - every ```sql block of the store's dialect, on the file or schema that payguard wrote, and
 *   the runbook's "unresolved indeterminate payments" query for what it must list;
 * - the documented JSON of a record, an outcome and the resolve bodies, against real answers;
 * - every YAML config example through `payguard check`;
 * - every `payguard_…` metric name against a running payguard's /metrics.
 * The placeholders the docs use (the admin host, a record id, a live key) are swapped for the
 * test's own in one table, `PLACEHOLDERS`.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseResolution } from "../../src/admin/resolution.js";
import { fileSchema } from "../../src/config/schema.js";
import { type DocBlock, docBlocks, documentedMetricNames } from "../support/doc-blocks.js";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { send } from "../support/http.js";
import { type Running, runCli, startInProcessYaml, writeTempConfig } from "../support/payguard.js";
import { SHARED_POSTGRES, useDroppedSchemas } from "../support/postgres-server.js";
import { until } from "../support/until.js";

const TOKEN = "docs_admin_token_0123456789abcdef0123456789";
const TENANT = "Bearer sk_live_docs";
const KEY = "order-8812";

let gw: FakeGateway;
beforeAll(async () => {
  gw = await startFakeGateway();
});
afterAll(async () => {
  await gw.close();
});

const blocks = docBlocks();
const under = (heading: string, info: string) => blocks.filter((b) => b.heading === heading && b.info === info);
const where = (b: DocBlock) => `${b.file}:${b.line}`;

/** What the docs write where the test has its own: [in the docs, in the test]. */
function placeholders(adminUrl: string, recordId: string): [string, string][] {
  return [
    ["http://payguard-admin:9090", adminUrl],
    ["mRgq…AQw0", recordId],
    ["sk_live_…", "sk_live_docs"],
  ];
}

/** The Stripe event the webhooks doc names, as a dead letter would hold it. */
const DEAD_EVENT = "evt_1QdocsDeadLetter";
const WEBHOOK_SECRET = "whsec_docs_dead_letter_0123456789";

/**
 * A shell block, as bash runs it, every curl failing on an HTTP error; one JSON answer per
 * line of output. Asynchronous: payguard answers from this process.
 */
async function runShell(block: DocBlock, swaps: [string, string][]): Promise<unknown[]> {
  let script = block.text;
  for (const [doc, mine] of swaps) script = script.replaceAll(doc, mine);
  const prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body --silent --show-error --max-time 10 "$@"; echo; }\n';
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", PAYGUARD_ADMIN_TOKEN: TOKEN };
  const run = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile("bash", ["-c", prelude + script], { env, timeout: 30_000 }, (err, out, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: stderr }),
    );
  });
  expect(run.code, `${where(block)}\n${script}\n${run.out}${run.err}`).toBe(0);
  return run.out
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
}

/** The store under test: its YAML, and a way to run SQL on what payguard wrote. */
interface Dialect {
  name: "sqlite" | "postgres";
  yaml: string;
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

function sqlite(): Dialect {
  const path = join(mkdtempSync(join(tmpdir(), "payguard-docs-")), "payguard.db");
  return {
    name: "sqlite",
    yaml: `store: { type: sqlite, path: "${path}" }`,
    query: async (sql) => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare(sql).all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    close: async () => {},
  };
}

function postgres(schemas: string[]): Dialect {
  const schema = `pgtest_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  schemas.push(schema);
  const journal = mkdtempSync(join(tmpdir(), "payguard-docs-journal-"));
  const client = new pg.Client(SHARED_POSTGRES);
  const connected = client.connect();
  return {
    name: "postgres",
    yaml: `store: { type: postgres, url: "${SHARED_POSTGRES}", postgres: { schema: ${schema} }, journal: { dir: "${journal}" } }`,
    query: async (sql) => {
      await connected;
      // the docs name the default schema, payguard
      return (await client.query(sql.replaceAll("payguard.", `${schema}.`))).rows;
    },
    close: () => client.end(),
  };
}

function payguardYaml(store: string): string {
  return `
server: { host: 127.0.0.1, port: 0 }
admin: { host: 127.0.0.1, port: 0, api: { enabled: true, token: "${TOKEN}" } }
upstream: { url: "${gw.url}", requestId: { header: request-id } }
shutdown: { readinessDelay: 0ms, drainTimeout: 5s }
log: { level: info }
resilience: { retry: { maxAttempts: 1 } }
idempotency: { upstreamKey: false }
routes: [ { name: charges, methods: [POST], path: /v1/charges } ]
${store}`;
}

/** The runbook's symptom, for real: the gateway takes the payment's request and drops the connection. */
async function unknownOutcome(running: Running): Promise<string> {
  gw.script(steps.reset());
  const answer = await send(running.url, "/v1/charges", {
    method: "POST",
    headers: { authorization: TENANT, "content-type": "application/json", "idempotency-key": KEY },
    body: JSON.stringify({ amount: 1000, currency: "eur" }),
  });
  expect(answer.status).toBe(502);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const line = running.logs.map((l) => JSON.parse(l) as Record<string, unknown>).findLast((l) => l.msg === "request");
  return line?.record as string;
}

/** The documented query that must list unresolved indeterminate payments, by its comment. */
function unresolvedQuery(dialect: Dialect["name"]): string {
  const found = blocks.filter((b) => b.info === `sql ${dialect}` && b.text.startsWith("-- unresolved indeterminate payments"));
  expect(found, `one "-- unresolved indeterminate payments" block for ${dialect}`).toHaveLength(1);
  return (found[0] as DocBlock).text;
}

const keysOf = (value: unknown) => Object.keys(value as object).sort();

describe("the docs' commands, run", () => {
  const schemas = useDroppedSchemas();

  for (const [name, make] of [
    ["sqlite", sqlite],
    ["postgres", () => postgres(schemas)],
  ] as const) {
    it(`the admin API's and the runbook's curl calls, and the ledger's SQL (${name})`, async () => {
      const dialect = make();
      const running = await startInProcessYaml(payguardYaml(dialect.yaml));
      try {
        const id = await unknownOutcome(running);
        const swaps = placeholders(running.adminUrl, id);
        const [adminBlock] = under("Admin API: idempotency records", "sh");
        const runbook = under("Runbook: an indeterminate payment", "sh");
        expect(adminBlock, "the admin API section's shell block").toBeDefined();
        expect(runbook.length, "the runbook's shell blocks").toBeGreaterThanOrEqual(3);

        // The admin API section: list, look up, show, release, read the ledger.
        const [list, lookup, shown, released, outcomes] = (await runShell(adminBlock as DocBlock, swaps)) as Record<string, unknown>[];
        expect((list?.records as { id: string }[] | undefined)?.map((r) => r.id)).toContain(id);
        expect(lookup?.id).toBe(id);
        expect(shown).toMatchObject({ state: "indeterminate", request: { key: KEY, method: "POST", path: "/v1/charges" } });
        expect(released).toMatchObject({ id, resolution: "release", record: null });
        const operatorRow = (outcomes?.outcomes as Record<string, unknown>[] | undefined)?.findLast((o) => o.record === id);
        expect(operatorRow).toMatchObject({ state: "resolved-by-operator", decision: "release", operator: expect.any(String) });
        expectDocumentedShapes(shown, operatorRow);
        expect(documentedSources(), "the sources operations.md lists").toContain(shown?.source);

        // Released, then unknown again on the client's retry: the runbook's query lists it.
        expect(await unknownOutcome(running)).toBe(id);
        for (const b of blocks.filter((b) => b.info === `sql ${dialect.name}`)) {
          await expect(dialect.query(b.text), where(b)).resolves.toBeInstanceOf(Array);
        }
        const unresolved = unresolvedQuery(dialect.name);
        expect((await dialect.query(unresolved)).filter((r) => r.record === id)).toHaveLength(1);

        // The runbook, top to bottom in one shell: find it (list, look up), complete it, confirm.
        const steps = { ...(runbook[0] as DocBlock), text: runbook.map((b) => b.text).join("\n") };
        const [, looked, completed, confirmed] = (await runShell(steps, swaps)) as Record<string, unknown>[];
        expect(looked?.id).toBe(id);
        expect(completed).toMatchObject({ id, resolution: "complete", record: { state: "completed", status: 201 } });
        expect(confirmed).toMatchObject({ id, state: "completed", request: { key: KEY } });
        expect((await dialect.query(unresolved)).filter((r) => r.record === id)).toHaveLength(0);
      } finally {
        await running.close();
        await dialect.close();
      }
    });
  }

  it("the webhook inbox's curl calls: a dead letter found, shown and delivered again once the service is fixed", async () => {
    let fixed = false;
    const delivered: string[] = [];
    const service = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on("end", () => {
        if (fixed) delivered.push(body);
        res.writeHead(fixed ? 200 : 500).end();
      });
    });
    await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
    const serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}/stripe/webhook`;
    const running = await startInProcessYaml(
      `${payguardYaml(sqlite().yaml)}
gateways: { stripe: { url: "${gw.url}", upstream: { gateway: stripe } } }
webhooks:
  host: 127.0.0.1
  port: 0
  delivery: { maxAge: 1s, backoff: { initial: 50ms, max: 100ms }, poll: 50ms }
  endpoints: [ { gateway: stripe, path: /webhooks/stripe, secret: "${WEBHOOK_SECRET}", deliverTo: "${serviceUrl}" } ]
`.replace(/^upstream: .*$/m, ""),
    );
    try {
      const payload = JSON.stringify({ id: DEAD_EVENT, object: "event", type: "charge.succeeded", data: { object: { id: "ch_docs" } } });
      const signature = new Stripe("sk_test_docs").webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
      const posted = await send(running.pg.webhookUrl as string, "/webhooks/stripe", {
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": signature },
        body: payload,
      });
      expect(posted.status).toBe(200);
      const stateOf = async () =>
        (await send(running.adminUrl, `/admin/webhooks/stripe/${DEAD_EVENT}`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.toString();
      await until(async () => (await stateOf()).includes('"state":"dead"'), "the event dead-lettered", 10_000);

      fixed = true;
      const [block] = under("Operating the inbox", "sh");
      expect(block, "the inbox section's shell block").toBeDefined();
      const [list, shown, again, range] = (await runShell(block as DocBlock, placeholders(running.adminUrl, ""))) as Record<string, unknown>[];
      expect((list?.events as { eventId: string }[] | undefined)?.map((e) => e.eventId)).toContain(DEAD_EVENT);
      expect(shown).toMatchObject({ eventId: DEAD_EVENT, state: "dead" });
      expect(again).toMatchObject({ eventId: DEAD_EVENT, state: "pending" });
      expect(range).toEqual({ redelivered: expect.any(Number), more: false });
      await until(() => delivered.length > 0, "the service got the event", 10_000);
      expect(JSON.parse(delivered[0] as string).id).toBe(DEAD_EVENT);
    } finally {
      await running.close();
      await new Promise((resolve) => service.close(resolve));
    }
  });

  it("every metric name the docs mention is one payguard serves", async () => {
    const running = await startInProcessYaml(payguardYaml("store: { type: memory }"));
    try {
      const served = new Set([...(await send(running.adminUrl, "/metrics")).body.toString().matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
      const documented = documentedMetricNames();
      // not metrics: Checkout.com's error_type for payguard's own 5xx (gateways.md)
      documented.delete("payguard_error");
      expect(documented.size).toBeGreaterThan(20);
      const unknown = [...documented].filter(([name]) => !served.has(name.replace(/_(bucket|sum|count)$/, ""))).map(([n, f]) => `${n} (${f})`);
      expect(unknown).toEqual([]);
    } finally {
      await running.close();
    }
  });
});

/** The values of a record's `source` that operations.md lists ("`source` is where the record lives: …"). */
function documentedSources(): string[] {
  const text = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
  const sentence = /`source` is where the\s+record lives: ([^(]*)/.exec(text)?.[1] ?? "";
  return [...sentence.matchAll(/`([a-z]+)`/g)].map((m) => m[1] as string);
}

/** The record and outcome JSON the admin API section shows have the real answers' members, no more, no fewer. */
function expectDocumentedShapes(record: unknown, outcome: unknown): void {
  const documented = under("Admin API: idempotency records", "json");
  const docRecord = JSON.parse(documented.find((b) => b.text.includes('"state": "indeterminate"'))?.text ?? "null");
  const docOutcome = JSON.parse(documented.find((b) => b.text.includes('"resolved-by-operator"'))?.text ?? "null");
  expect(keysOf(docRecord)).toEqual(keysOf(record));
  expect(keysOf(docRecord.request)).toEqual(keysOf((record as { request: unknown }).request));
  expect(keysOf(docOutcome)).toEqual(keysOf(outcome));
}

describe("the docs' examples, checked", () => {
  it("the documented resolve bodies are what the API takes", () => {
    const block = under("Admin API: idempotency records", "json").find((b) => b.text.includes('"action"'));
    const bodies = (block?.text ?? "").split(/\n(?=\{)/);
    expect(bodies).toHaveLength(2);
    for (const body of bodies) expect(() => parseResolution(body, 1 << 20), body).not.toThrow();
  });

  /** The values the docs' ${VAR}s stand for, each of the shape its key takes. */
  const ENV: Record<string, string> = {
    PAYGUARD_ADMIN_TOKEN: TOKEN,
    PG_PASSWORD: "docs-pg-password",
    REDIS_PASSWORD: "docs-redis-password",
    GATEWAY_URL: "https://api.stripe.com",
    STRIPE_WEBHOOK_SECRET: "whsec_docs0123456789abcdef",
    ADYEN_HMAC_KEY: "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
    SQUARE_SIGNATURE_KEY: "docs-square-signature-key",
  };
  const sections = new Set(Object.keys(fileSchema.shape));
  const configs = blocks.filter((b) => b.info === "yaml");

  it("the docs show config examples (the control)", () => {
    expect(configs.length).toBeGreaterThanOrEqual(10);
  });

  for (const block of configs) {
    it(`the config example at ${where(block)} passes check`, async () => {
      const example = (parse(block.text) ?? {}) as Record<string, unknown>;
      const strangers = Object.keys(example).filter((k) => !sections.has(k));
      expect(strangers, "top-level keys payguard does not know").toEqual([]);
      const vars = [...block.text.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1] as string);
      for (const name of vars) expect(ENV[name], `a value for \${${name}} in ENV`).toBeDefined();
      // A fragment gets a gateway where it names none.
      const base = example.upstream || example.gateways ? "" : 'upstream: { url: "https://api.stripe.com" }\n';
      const file = writeTempConfig(base + block.text);
      const { code, stdout, stderr } = await runCli(["check", "--config", file], ENV);
      expect(code, `${where(block)}\n${block.text}\n${stdout}${stderr}`).toBe(0);
    });
  }
});
