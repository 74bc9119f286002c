/**
 * The access line written past pino is the line pino would write: the same keys in the same
 * order (level, time, the logger's bindings, the fields, msg), the same values, JSON-escaped;
 * absent fields left out; nothing above the info level.
 */
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { accessWriter } from "../../src/log-access.js";

function capture(level = "info") {
  const lines: string[] = [];
  const logger = createLogger(level, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

const withoutTime = (line: string) => {
  const { time, ...rest } = JSON.parse(line) as Record<string, unknown>;
  expect(typeof time === "string" && !Number.isNaN(Date.parse(time))).toBe(true);
  return rest;
};

describe("the access line", () => {
  const fields = {
    reqId: "r-1",
    route: "default",
    method: "POST",
    path: '/v1/charges/"odd"\\path\u2028',
    status: 200,
    durationMs: 1.5,
    attempts: 1,
    gen: 3,
    outcome: "upstream",
  };

  it("is pino's line for the same fields: keys in order, values equal", () => {
    const { logger, lines } = capture();
    accessWriter(logger)({ ...fields, flag: undefined, record: undefined });
    logger.info(fields, "request");
    expect(lines).toHaveLength(2);
    const [ours, pinos] = lines.map(withoutTime);
    expect(ours).toEqual(pinos);
    expect(Object.keys(ours as object)).toEqual(Object.keys(pinos as object));
    expect(lines[0]?.endsWith("}\n")).toBe(true);
  });

  it("carries a child logger's bindings as pino does, and writes nothing above info", () => {
    const { logger, lines } = capture();
    const child = logger.child({ replica: "pod-a" });
    accessWriter(child)({ reqId: "r-2", status: 502 });
    child.info({ reqId: "r-2", status: 502 }, "request");
    const [ours, pinos] = lines.map(withoutTime);
    expect(ours).toEqual(pinos);
    const quiet = capture("warn");
    accessWriter(quiet.logger)(fields);
    expect(quiet.lines).toEqual([]);
  });
});
