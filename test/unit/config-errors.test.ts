/**
 * What a refused config says (user report): a refused value is named beside everything it may
 * be — never told it has the wrong type when it has the right one — and an unset `${VAR}` is
 * one problem, the interpolation's.
 */

import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { z } from "zod";
import { parseConfig } from "../../src/config/load.js";
import { configSchema } from "../../src/config/schema.js";
import { problemsOf } from "../support/config.js";
import { keyPaths, unwrap } from "../support/schema-walk.js";

const RETRY_ON = 'must be "connect-error", "attempt-timeout", "reset", "5xx" or a status code 400–599';
const REPLAY = 'must be "1xx", "2xx", "3xx", "4xx", "5xx" or a status code 100–599';

describe("retry.on and replay take the same status vocabulary", () => {
  it("retry.on takes 5xx (every 5xx status) as replay does, and a status as a number or its digits", () => {
    const config = parseConfig(
      'upstream: { url: http://gw }\nresilience: { retry: { on: [reset, 5xx, 429, "503"] } }\nidempotency: { replay: [2xx, 5xx, 409, "402"] }\n',
      {},
    );
    expect(config.resilience.retry.on).toEqual(["reset", "5xx", 429, 503]);
    expect(config.idempotency.replay).toEqual(["2xx", "5xx", 409, 402]);
  });

  it("a refused entry is named beside every value the list allows, never told it is not a string", () => {
    const problems = problemsOf(
      'upstream: { url: http://gw }\nresilience: { retry: { on: [reset, teapot, 4xx, 700, "42"] } }\nidempotency: { replay: [6xx, 99] }\n',
    );
    expect(problems).toEqual([
      `resilience.retry.on[1]: ${RETRY_ON} (got "teapot")`,
      `resilience.retry.on[2]: ${RETRY_ON} (got "4xx")`,
      `resilience.retry.on[3]: ${RETRY_ON} (got 700)`,
      `resilience.retry.on[4]: ${RETRY_ON} (got "42")`,
      `idempotency.replay[0]: ${REPLAY} (got "6xx")`,
      `idempotency.replay[1]: ${REPLAY} (got 99)`,
    ]);
  });

  it("the same in a route, which overrides the list", () => {
    expect(problemsOf("upstream: { url: http://gw }\nroutes: [{ path: /x, resilience: { retry: { on: [5xx, 5XX] } } }]\n")).toEqual([
      `routes[0].resilience.retry.on[1]: ${RETRY_ON} (got "5XX")`,
    ]);
  });
});

describe("every union and enum of the config names what it takes and what it got", () => {
  it("unions of a literal and a pattern, and of a literal and a mapping, read as their options", () => {
    expect(problemsOf("upstream: { url: http://gw, requestId: { header: 5, field: 6 } }\nidempotency: { upstreamKey: x, ledger: { link: 7 } }\n")).toEqual([
      "upstream.requestId.header: must be false or an HTTP header name (got 5)",
      'upstream.requestId.field: must be false or a JSON pointer to a member, such as "/idempotency_key" (got 6)',
      'idempotency.ledger.link: must be "key" or a JSON pointer to a member, such as "/id" (got 7)',
      'idempotency.upstreamKey: must be false, "body" or a mapping { header: <header name> } (got "x")',
    ]);
    // a mapping is the mapping option's: its own members are what is wrong
    expect(problemsOf("upstream: { url: http://gw }\nidempotency: { upstreamKey: { hdr: x } }\n")).toEqual([
      "idempotency.upstreamKey.header: is required",
      "idempotency.upstreamKey.hdr: unknown key",
    ]);
  });

  it("a duration or size of the wrong type says what it should be", () => {
    expect(problemsOf("upstream: { url: http://gw, connectTimeout: true }\nlimits: { maxBodySize: [1] }\n")).toEqual([
      'upstream.connectTimeout: must be a duration such as "250ms", "10s" or "24h", or a number of milliseconds (got true)',
      'limits.maxBodySize: must be a size such as "512kb" or "1mb", or a number of bytes (got a list)',
    ]);
  });

  // Every union, enum, literal and boolean reached through sections (and list items), found by
  // walking the schema: each refuses a list with one line at its path, naming what it takes.
  const isVocabulary = (bare: z.ZodType) =>
    bare instanceof z.ZodUnion || bare instanceof z.ZodEnum || bare instanceof z.ZodLiteral || bare instanceof z.ZodBoolean;
  const vocabularies = [...keyPaths(configSchema)].filter(([path, schema]) => /^[A-Za-z.]+(\[\])?$/.test(path) && isVocabulary(unwrap(schema)));

  it("finds the vocabularies to check (the walk is not silently empty)", () => {
    const paths = vocabularies.map(([path]) => path);
    expect(paths).toEqual(
      expect.arrayContaining(["resilience.retry.on[]", "idempotency.replay[]", "log.level", "upstream.requestId.header", "admin.api.enabled"]),
    );
    expect(paths.length).toBeGreaterThan(60);
  });

  it.each(vocabularies.map(([path]) => [path]))("%s", (path) => {
    const keys = path.replace(/\[\]$/, "").split(".");
    const wrong = path.endsWith("[]") ? [[]] : [];
    const file = { upstream: { url: "http://gw" } };
    let node: Record<string, unknown> = file;
    for (const key of keys.slice(0, -1)) {
      node[key] = node[key] ?? {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1) as string] = wrong;
    const at = path.replace(/\[\]$/, "[0]");
    const lines = problemsOf(stringify(file)).filter((p) => p.startsWith(`${at}: must be`));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/: must be .+ \(got a list\)$/);
    expect(lines[0]).not.toContain("must be a string or a number");
  });
});

describe("an unset ${VAR} is one problem, at its path, naming the variable", () => {
  it("no second problem about the empty value it left, while other problems are all still listed", () => {
    const problems = problemsOf(
      'upstream: { url: "${GATEWAY_URL}" }\nserver: { port: "${PORT}" }\nlog: { level: "${LEVEL}" }\nlimits: { maxBodySize: lots }\n',
    );
    expect(problems).toEqual([
      "upstream.url: environment variable GATEWAY_URL is not set (use ${GATEWAY_URL:-default} for a default)",
      "server.port: environment variable PORT is not set (use ${PORT:-default} for a default)",
      "log.level: environment variable LEVEL is not set (use ${LEVEL:-default} for a default)",
      'limits.maxBodySize: must be a size such as "512kb" or "1mb" (got "lots")',
    ]);
  });

  it("in a named gateway and in a list, and one line for a value with several unset variables", () => {
    expect(problemsOf('gateways:\n  stripe: { url: "https://${HOST}${SUFFIX}" }\nresilience: { retry: { on: ["${STATUS}"] } }\n')).toEqual([
      "gateways.stripe.url: environment variables HOST, SUFFIX are not set (use ${NAME:-default} for a default)",
      "resilience.retry.on[0]: environment variable STATUS is not set (use ${STATUS:-default} for a default)",
    ]);
  });
});

describe("booleans from ${VAR}", () => {
  const yaml = 'upstream: { url: http://gw }\nadmin: { api: { enabled: "${API:-false}", token: "${TOKEN:-}" } }\n';
  const token = "t".repeat(32);

  it('"true" and "false" from the environment are booleans; anything else is refused by name', () => {
    expect(parseConfig(yaml, {}).admin.api.enabled).toBe(false);
    expect(parseConfig(yaml, { API: "true", TOKEN: token }).admin.api).toEqual({ enabled: true, token, revealBodies: false });
    expect(parseConfig(yaml, { API: "false" }).admin.api.enabled).toBe(false);
    expect(problemsOf(yaml, { API: "yes" })).toEqual(["admin.api.enabled: must be true or false (got a string)"]);
  });

  it("turned on without a token, the API is refused, and the token is never printed", () => {
    expect(problemsOf(yaml, { API: "true", TOKEN: "short-secret" })).toEqual(["admin.api.token: must be at least 32 characters when admin.api is enabled"]);
  });
});
