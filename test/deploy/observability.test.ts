/**
 * The dashboard and the alert rules query only metrics payguard really exports: checked
 * against the /metrics output of a real payguard after real traffic through a fake gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROBLEMS } from "../../src/errors.js";
import { type FakeGateway, startFakeGateway, steps } from "../support/fake-gateway.js";
import { send } from "../support/http.js";
import { type Running, startInProcess } from "../support/payguard.js";
import { CHART, read, yamlFile } from "./chart.js";

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
}
interface Rules {
  groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: { severity: string }; annotations: { summary: string } }[] }[];
}

const dashboard = JSON.parse(read(`${CHART}files/payguard-dashboard.json`)) as Dashboard;
const rules = yamlFile<Rules>(`${CHART}files/payguard-alerts.yaml`);
const dashboardExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
const ruleExprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));

/** Metric names in PromQL: payguard's own, and prom-client's defaults. */
const metricNames = (exprs: string[]) => [...new Set(exprs.flatMap((e) => e.match(/\b(?:payguard|process|nodejs)_[a-z0-9_]+/g) ?? []))].sort();

/**
 * Metrics that have samples only with a shared store (Redis, PostgreSQL), after rare events, or
 * with webhooks configured (their samples: test/integration/webhooks-delivery.test.ts): their
 * TYPE line must exist.
 */
const TYPE_ONLY = new Set([
  "payguard_webhook_deliveries_total",
  "payguard_webhook_delivery_lag_seconds",
  "payguard_store_errors_total",
  "payguard_store_fallbacks_total",
  "payguard_journal_replays_total",
  "payguard_bulkhead_rejections_total",
  "payguard_store_evictions_total",
  "payguard_timeouts_total",
  "payguard_retries_suppressed_total",
]);

/** Why `name` cannot be found in the exposition `text`, or undefined when it can. */
function missing(text: string, name: string): string | undefined {
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  const suffix = /_(bucket|sum|count)$/.exec(name);
  const family = types.has(name) ? name : suffix ? name.slice(0, -suffix[0].length) : name;
  const type = types.get(family);
  if (!type) return `${name}: no "# TYPE" line`;
  if (family !== name && type !== "histogram" && type !== "summary") return `${name}: ${family} is a ${type}, it has no ${suffix?.[0]}`;
  if (family === name && type === "histogram") return `${name}: a histogram is queried through _bucket/_sum/_count`;
  if (TYPE_ONLY.has(family)) return undefined;
  return new RegExp(`^${name}[{ ]`, "m").test(text) ? undefined : `${name}: no sample after traffic`;
}

/** `outcome` values of payguard_requests_total besides the problem codes (src/pipeline/observe.ts). */
const OWN_OUTCOMES = ["upstream", "replay", "stream_broken"];

/** The `outcome` label values an expression matches on (`=`, `!=`). */
const outcomeValues = (exprs: string[]) => [...new Set(exprs.flatMap((e) => [...e.matchAll(/\boutcome!?="([^"]*)"/g)].map((m) => m[1] as string)))];

/** The `outcome` values payguard_requests_total has samples for in the exposition `text`. */
const exportedOutcomes = (text: string) => [...text.matchAll(/^payguard_requests_total\{[^}]*\boutcome="([^"]*)"/gm)].map((m) => m[1]);

/** Each payguard_requests_total selector of a ratio's expression: replays left out of both sides. */
function ratioSelectors(expr: string): string[] {
  return [...expr.matchAll(/payguard_requests_total(\{[^}]*\})?/g)].map((m) => m[1] ?? "");
}

let gw: FakeGateway;
let pg: Running;
let metrics: string;

beforeAll(async () => {
  gw = await startFakeGateway();
  gw.setDefault({ status: 200, body: { id: "ch_1" } });
  pg = await startInProcess(gw.url, "resilience: { retry: { backoff: { initial: 1ms, max: 5ms } } }");
  const pay = (key: string) =>
    send(pg.url, "/v1/charges", { method: "POST", headers: { "content-type": "application/json", "idempotency-key": key }, body: '{"amount":1000}' });
  await pay("obs-1"); // new
  await pay("obs-1"); // replayed
  await send(pg.url, "/v1/charges", { method: "POST", body: "{}" }); // missing key → 400
  gw.script(steps.unavailable()); // one 503, retried
  await send(pg.url, "/v1/balance");
  const res = await fetch(`${pg.adminUrl}/metrics`);
  metrics = await res.text();
});
afterAll(async () => {
  await pg?.close();
  await gw?.close();
});

describe("dashboard (files/payguard-dashboard.json)", () => {
  it("covers requests, replays, conflicts, retries, breaker state, store errors, journal backlog and latency quantiles", () => {
    const all = dashboardExprs.join("\n");
    for (const name of [
      "payguard_requests_total",
      "payguard_idempotency_total",
      "payguard_retries_total",
      "payguard_breaker_state",
      "payguard_store_errors_total",
      "payguard_journal_backlog",
    ]) {
      expect(all).toContain(name);
    }
    expect(all).toMatch(/histogram_quantile\(0\.99, sum by \(le\) \(rate\(payguard_request_duration_seconds_bucket/);
    expect(dashboard.panels.every((p) => p.targets.length > 0)).toBe(true);
  });

  it("has a replay-rate panel: requests answered from the store, outcome replay", () => {
    const replays = dashboard.panels.filter((p) => p.targets.some((t) => /payguard_requests_total\{[^}]*outcome="replay"/.test(t.expr)));
    expect(replays.map((p) => p.title)).toEqual([expect.stringMatching(/^Replays/)]);
  });

  it("leaves replays out of both sides of the error ratio: they repeat an answer already counted", () => {
    const ratios = dashboardExprs.filter((e) => /status_class="5xx"/.test(e) && e.includes("/"));
    expect(ratios).not.toHaveLength(0);
    for (const expr of ratios) for (const selector of ratioSelectors(expr)) expect(selector).toContain('outcome!="replay"');
  });

  it("queries only metrics payguard exports", () => {
    const names = metricNames(dashboardExprs);
    expect(names.length).toBeGreaterThan(10);
    expect(names.map((n) => missing(metrics, n)).filter(Boolean)).toEqual([]);
  });
});

describe("alert rules (files/payguard-alerts.yaml)", () => {
  it("alert on an open breaker, an unavailable store, a journal backlog, answers not durable, a full journal, indeterminate outcomes, the error ratio, webhook dead letters and lag", () => {
    const byMetric = (re: RegExp) => rules.groups.flatMap((g) => g.rules).filter((r) => re.test(r.expr));
    expect(byMetric(/payguard_breaker_state/)[0]?.for).toMatch(/^\d+m$/);
    expect(byMetric(/payguard_store_errors_total/)).not.toHaveLength(0);
    expect(byMetric(/payguard_journal_backlog\) > 0/)[0]?.for).toMatch(/^\d+m$/);
    expect(byMetric(/settlement="indeterminate"/)).not.toHaveLength(0);
    expect(byMetric(/payguard_idempotency_settlements_pending\) > 0/)[0]?.labels.severity).toBe("critical");
    expect(byMetric(/payguard_journal_full\) > 0/)[0]?.labels.severity).toBe("critical");
    expect(byMetric(/status_class="5xx"[\s\S]*\/[\s\S]*payguard_requests_total/)).not.toHaveLength(0);
    expect(byMetric(/payguard_webhook_deliveries_total\{result="dead"\}/)[0]?.labels.severity).toBe("critical");
    expect(byMetric(/payguard_webhook_delivery_lag_seconds_bucket/)).not.toHaveLength(0);
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      expect(rule.alert).toMatch(/^Payguard[A-Za-z]+$/);
      expect(["critical", "warning"]).toContain(rule.labels.severity);
      expect(rule.annotations.summary).toBeTruthy();
    }
  });

  it("leave replays out of both sides of the 5xx ratio", () => {
    const ratios = ruleExprs.filter((e) => /status_class="5xx"/.test(e) && e.includes("/"));
    expect(ratios).not.toHaveLength(0);
    for (const expr of ratios) for (const selector of ratioSelectors(expr)) expect(selector).toContain('outcome!="replay"');
  });

  it("query only metrics payguard exports", () => {
    const names = metricNames(ruleExprs);
    expect(names.length).toBeGreaterThan(4);
    expect(names.map((n) => missing(metrics, n)).filter(Boolean)).toEqual([]);
  });

  it("dashboard and rules match only outcome values payguard gives; replay among those the traffic produced", () => {
    const values = outcomeValues([...dashboardExprs, ...ruleExprs]);
    expect(values).toContain("replay");
    expect(values.filter((v) => !OWN_OUTCOMES.includes(v) && !(v in PROBLEMS))).toEqual([]);
    // the traffic above replayed one payment: its outcome is a sample of its own
    expect(exportedOutcomes(metrics)).toEqual(expect.arrayContaining(["upstream", "replay", "idempotency_key_missing"]));
  });

  it("the checker itself rejects names payguard does not export", () => {
    expect(missing(metrics, "payguard_request_total")).toMatch(/no "# TYPE"/);
    expect(missing(metrics, "payguard_requests_total_count")).toMatch(/is a counter/);
    expect(missing(metrics, "payguard_request_duration_seconds")).toMatch(/histogram/);
    expect(missing(metrics, "payguard_request_duration_seconds_bucket")).toBeUndefined();
  });
});
