/**
 * URLs as `check` and the startup lines print them: a password never, whatever it holds.
 */
import { describe, expect, it } from "vitest";
import { redactUrl } from "../../src/check/redact.js";

describe("redactUrl", () => {
  it("hides a password that holds '@' or '/', a lone user name and the query; keeps host, port and path", () => {
    expect(redactUrl("redis://:p@ss@host:6379/0")).toBe("redis://:***@host:6379/0");
    expect(redactUrl("postgres://u:secret@db:5432/pay")).toBe("postgres://u:***@db:5432/pay");
    expect(redactUrl("https://token@collector:4318/v1/traces?api_key=abc")).toBe("https://***@collector:4318/v1/traces?***");
    expect(redactUrl("http://127.0.0.1:3000/stripe/webhook")).toBe("http://127.0.0.1:3000/stripe/webhook");
  });

  it("prints '?' for what does not parse as a URL rather than risk the password in it", () => {
    for (const url of ["postgres://u:se/cret@db:5432/pay", "not a url"]) {
      expect(redactUrl(url)).toBe("?");
      expect(redactUrl(url)).not.toContain("cret");
    }
  });
});
