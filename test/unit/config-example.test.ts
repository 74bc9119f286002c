/**
 * config/payguard.yaml is the example with every key (and the container image's default
 * config): every key path of the schema is in it, live or commented out, each with its
 * comment; its live values are the defaults; what it points to in docs/ exists.
 *
 * A commented-out key is a comment line whose text is YAML at the key's own indentation:
 * `  # header: idempotency-key  # …` stands for `  header: idempotency-key  # …`. Those lines
 * are uncommented and the whole file parsed again; prose comments never start with `word:`.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isMap, isScalar, isSeq, type Node, parseDocument } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { fileSchema } from "../../src/config/schema.js";
import { anchorsOf } from "../support/markdown-anchors.js";
import { joinPath, keyPaths, under } from "../support/schema-walk.js";

const ROOT = new URL("../../", import.meta.url);
const FILE = "config/payguard.yaml";
const text = readFileSync(new URL(FILE, ROOT), "utf8");

/** A commented-out key: "# " then YAML — a key (or a list item's first key) and a colon. */
const COMMENTED_KEY = /^(\s*)# (\s*(?:- )?[A-Za-z][A-Za-z0-9]*:(?:\s.*)?)$/;

/** The file with every commented-out key line uncommented, in place. */
function uncommented(yaml: string): string {
  return yaml
    .split("\n")
    .map((line) => line.replace(COMMENTED_KEY, "$1$2"))
    .join("\n");
}

/** Every key path of the schema, and the schema at each. */
const schemaPaths = keyPaths(fileSchema);

/**
 * Sections that take exactly another section's keys (a route's and a gateway's overrides):
 * the example shows each key once, at the top level, and the section by name.
 */
const SAME_KEYS_AS: Record<string, string> = {
  "routes[].idempotency": "idempotency",
  "routes[].resilience": "resilience",
  "gateways.*.idempotency": "idempotency",
  "gateways.*.resilience": "resilience",
  "gateways.*.routes[]": "routes[]",
  "gateways.*.upstream": "upstream",
};

/** Leaves and sections of a parsed YAML document, as schema paths (a record's keys as "*"), with each leaf's value. */
function documentPaths(yaml: string): Map<string, unknown[]> {
  const doc = parseDocument(yaml, { uniqueKeys: false });
  expect(doc.errors.map((e) => e.message)).toEqual([]);
  const found = new Map<string, unknown[]>();
  const add = (path: string[], value: unknown) => found.set(joinPath(path), [...(found.get(joinPath(path)) ?? []), value]);
  const walk = (node: Node | null | undefined, path: string[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
        const child = [...path, schemaPaths.has(joinPath([...path, "*"])) ? "*" : key];
        const value = pair.value as Node | null;
        add(child, isMap(value) ? undefined : (value?.toJSON() as unknown));
        walk(value, child);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item as Node, [...path, "[]"]);
    }
  };
  walk(doc.contents as Node, []);
  return found;
}

const written = documentPaths(uncommented(text));
const live = documentPaths(text);

describe(`${FILE} has every key`, () => {
  it("overrides take exactly their top-level section's keys, so showing those once covers them", () => {
    for (const [section, twin] of Object.entries(SAME_KEYS_AS)) {
      const own = under(schemaPaths.keys(), twin).filter((p) => !(twin === "upstream" && p === "url"));
      expect(under(schemaPaths.keys(), section), section).toEqual(own);
    }
  });

  it("every key path of the schema is in it, live or commented out", () => {
    const covered = (path: string) => Object.keys(SAME_KEYS_AS).some((section) => path.startsWith(`${section}.`) || path.startsWith(`${section}[]`));
    const required = [...schemaPaths.keys()].filter((path) => !covered(path) && !path.endsWith("[]"));
    expect(required.filter((path) => !written.has(path))).toEqual([]);
    expect(required.length).toBeGreaterThan(150);
  });

  it("every key in it, live or commented out, is one of the schema's (no typo, no prose read as a key)", () => {
    expect([...written.keys()].filter((path) => !schemaPaths.has(path))).toEqual([]);
  });

  it("each key has its one-line comment", () => {
    const bare = uncommented(text)
      .split("\n")
      .filter((line) => /^\s*(- )?[A-Za-z][A-Za-z0-9]*:/.test(line) && !/\s#\s\S/.test(line));
    expect(bare).toEqual([]);
  });

  it("its live values are the defaults: the example changes nothing a one-key file would not", () => {
    const example = parseConfig(text, {});
    const defaults = parseConfig("upstream: { url: https://api.stripe.com }\nstore: { path: ./.payguard/payguard.db }\n", {});
    expect(example).toEqual(defaults);
  });

  it("its commented-out keys show their defaults (those that have one)", () => {
    const defaults = parseConfig("upstream: { url: http://gw.internal }\n", {}) as unknown as Record<string, unknown>;
    const examples = /^(routes|gateways|webhooks\.endpoints)\b/;
    const checked: string[] = [];
    for (const [path, values] of written) {
      const schema = schemaPaths.get(path);
      if (live.has(path) || examples.test(path) || values[0] === undefined || !schema) continue;
      const fallback = path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], defaults);
      if (fallback === undefined) continue;
      expect(schema.parse(values[0]), path).toEqual(fallback);
      checked.push(path);
    }
    expect(checked).toEqual(expect.arrayContaining(["idempotency.maxKeyLength", "store.url", "store.journal.maxBytes", "upstream.requestId.header"]));
  });
});

describe(`${FILE} points into docs/ only where a section exists`, () => {
  const references = [...text.matchAll(/docs\/[^\s),;]+/g)].map((m) => m[0]);

  it("finds its references (the extractor is not silently empty)", () => {
    expect(references.length).toBeGreaterThan(10);
    expect(references.some((r) => r.includes("#"))).toBe(true);
  });

  it.each(references.map((r) => [r]))("%s", (reference) => {
    const [path = "", anchor] = reference.split("#");
    expect(path).toMatch(/^docs\/[a-z-]+\.md$/);
    expect(existsSync(new URL(path, ROOT)), `${path} exists`).toBe(true);
    if (anchor !== undefined) expect([...anchorsOf(readFileSync(new URL(path, ROOT), "utf8"))]).toContain(anchor);
  });

  it("names a section by its anchor, never by its title in quotes (which no link checker can follow)", () => {
    expect(text).not.toMatch(/docs\/[a-z-]+\.md,\s*"/);
  });
});
