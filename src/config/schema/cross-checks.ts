/**
 * Checks across fields and sections, each a validator of one scope (./scopes.ts): the top
 * level's effective values, then each route's. They run even when other fields are invalid
 * (so one pass reports every problem), and skip what did not parse.
 */
import type { z } from "zod";
import { type Problem, type Scope, scopes } from "./scopes.js";

type Validator = (scope: Scope) => Problem[];

/** A stored answer must fit the memory store, or it could never be replayed: judged where maxResponseSize is set. */
function responseFitsStore(scope: Scope): Problem[] {
  const maxSize = scope.value("store", "maxSize");
  if (scope.value("store", "type") !== "memory" || typeof maxSize !== "number") return [];
  const maxResponse = scope.own("idempotency", "maxResponseSize");
  if (typeof maxResponse === "number" && maxResponse + 64 * 1024 > maxSize) {
    return [{ path: ["idempotency", "maxResponseSize"], message: "must be at least 64kb below store.maxSize" }];
  }
  return [];
}

/** `upstreamKey: body` says the key travels in the body: the body field must be named. A route is judged when it names either. */
function bodyKeyNamed(scope: Scope): Problem[] {
  const idem = scope.own("idempotency");
  const names = typeof idem === "object" && idem !== null && ("upstreamKey" in idem || "bodyField" in idem);
  if (scope.isRoute && !names) return [];
  const bodyField = scope.value("idempotency", "bodyField");
  if (scope.value("idempotency", "upstreamKey") === "body" && (bodyField === false || bodyField === undefined)) {
    return [{ path: ["idempotency", "upstreamKey"], message: 'is "body": idempotency.bodyField must name the body field the gateway dedupes on' }];
  }
  return [];
}

/** store.url must be of the store's kind (the top level's: routes have no store). */
function storeUrlOfType(scope: Scope): Problem[] {
  const url = scope.value("store", "url");
  if (scope.isRoute || typeof url !== "string") return [];
  const [type, nodes] = [scope.value("store", "type"), scope.value("store", "postgres", "nodes")];
  const problems: Problem[] = [];
  if (type === "redis" && !/^rediss?:\/\//.test(url)) {
    problems.push({ path: ["store", "url"], message: "must be a redis:// or rediss:// URL for store.type redis" });
  }
  const hasNodes = Array.isArray(nodes) && nodes.length > 0;
  if (type === "postgres" && !hasNodes && !/^postgres(ql)?:\/\//.test(url)) {
    problems.push({ path: ["store", "url"], message: "must be a postgres:// URL for store.type postgres (or list store.postgres.nodes)" });
  }
  return problems;
}

/**
 * idempotency.ttl must cover how long a key may stay in flight: the total timeout, plus
 * completion's maxDuration when completion can run (an upstream key, maxDuration > 0). The
 * stores keep a renewed record past its ttl anyway; this makes a ttl too short to mean what it
 * says an error. A route is judged on its effective values, when it sets one of them.
 */
function ttlCoversInFlight(scope: Scope): Problem[] {
  const { own, value } = scope;
  const sets =
    own("idempotency", "ttl") ?? own("idempotency", "upstreamKey") ?? own("idempotency", "completion", "maxDuration") ?? own("resilience", "timeout", "total");
  if (scope.isRoute && sets === undefined) return [];
  const [ttl, total, maxDuration] = [value("idempotency", "ttl"), value("resilience", "timeout", "total"), value("idempotency", "completion", "maxDuration")];
  if (typeof ttl !== "number" || typeof total !== "number") return [];
  const completes = value("idempotency", "upstreamKey") !== false && typeof maxDuration === "number" && maxDuration > 0;
  const least = total + (completes ? (maxDuration as number) : 0);
  if (ttl >= least) return [];
  const what = completes ? "resilience.timeout.total + idempotency.completion.maxDuration" : "resilience.timeout.total";
  return [{ path: ["idempotency", "ttl"], message: `must be ≥ ${what} (${least}ms)` }];
}

/** Each attempt's timeout must fit in the total one. A route is judged when it has a timeout section. */
function attemptWithinTotal(scope: Scope): Problem[] {
  if (scope.isRoute && !scope.own("resilience", "timeout")) return [];
  const [attempt, total] = [scope.value("resilience", "timeout", "attempt"), scope.value("resilience", "timeout", "total")];
  if (typeof attempt === "number" && typeof total === "number" && attempt > total) {
    return [{ path: ["resilience", "timeout", "attempt"], message: "must be ≤ resilience.timeout.total" }];
  }
  return [];
}

/** In the order problems are reported: each check over every scope, then the next check. */
const VALIDATORS: readonly Validator[] = [responseFitsStore, bodyKeyNamed, storeUrlOfType, ttlCoversInFlight, attemptWithinTotal];

/** Every cross-check problem of a (maybe partly parsed) config, each at its full path. */
export function crossCheckProblems(config: unknown): Problem[] {
  const all = [...scopes(config)];
  const problems: Problem[] = [];
  for (const validate of VALIDATORS) {
    for (const scope of all) {
      for (const { path, message } of validate(scope)) problems.push({ path: [...scope.path, ...path], message });
    }
  }
  return problems;
}

/** The config schema's last refinement: every cross-check problem as an issue. */
export function crossChecks(config: unknown, ctx: z.RefinementCtx): void {
  for (const { path, message } of crossCheckProblems(config)) ctx.addIssue({ code: "custom", path, message });
}
