import { describe, expect, it } from "vitest";
import { pickFields } from "../../src/idempotency/fields.js";

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
/** A lone (unpaired) UTF-16 surrogate anywhere in `s`. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe("ledger fields", () => {
  it("a long string is cut at 256 code points, never inside a surrogate pair", () => {
    // One ASCII character first, so a cut at 256 UTF-16 units lands between the halves of an emoji.
    const long = `a${"😀".repeat(300)}`;
    const picked = pickFields(json({ note: long }), "application/json", ["/note"]);
    const note = picked?.["/note"] as string;
    expect(LONE_SURROGATE.test(note)).toBe(false);
    expect([...note]).toHaveLength(256);
    expect(note).toBe(`a${"😀".repeat(255)}`);
  });

  it("a string at the limit is kept whole", () => {
    const exact = "😀".repeat(256);
    expect(pickFields(json({ note: exact }), "application/json", ["/note"])).toEqual({ "/note": exact });
  });
});
