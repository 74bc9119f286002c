import { describe, expect, it } from "vitest";
import { featureTimes, type ProfileNode } from "../../bench/features.js";

const node = (id: number, functionName: string, url: string, children: number[] = []): ProfileNode => ({
  id,
  callFrame: { functionName, url },
  children,
});

// (root) → parserOnHeadersComplete (node:_http_common) → guard → dispatch (hono) → forward → writev (native)
//                                                                                 → pino write → writeString (native)
const nodes = [
  node(1, "(root)", "", [2, 8]),
  node(2, "parserOnHeadersComplete", "node:_http_common", [3]),
  node(3, "guard", "file:///app/dist/pipeline/guard.js", [4]),
  node(4, "dispatch", "file:///app/node_modules/hono/dist/compose.js", [5, 7]),
  node(5, "forward", "file:///app/dist/pipeline/forward.js", [6]),
  node(6, "writev", ""),
  node(7, "write", "file:///app/node_modules/pino/lib/proto.js", [9]),
  node(8, "(garbage collector)", ""),
  node(9, "writeString", ""),
];

describe("bench feature attribution", () => {
  it("gives each sample to the innermost feature on its stack, native work included", () => {
    const selfUs = new Map([
      [2, 1000],
      [3, 2000],
      [4, 3000],
      [6, 4000],
      [8, 5000],
      [9, 6000],
    ]);
    const ms = Object.fromEntries(featureTimes(nodes, selfUs).map((f) => [f.feature, f.ms]));
    expect(ms).toEqual({
      "node:http, undici's socket and the runtime (no payguard frame)": 1,
      "guard, route, body, headers": 2,
      "hono (compose, Context, node-server)": 3,
      "forward + upstream call (undici)": 4,
      "(garbage collector)": 5,
      "observe: access line (pino)": 6,
    });
  });
});
