/**
 * The documentation is README.md plus docs/*.md. Every relative link in it must land:
 * the file exists, and a `#anchor` names a heading of that file as GitHub slugs it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const README = join(ROOT, "README.md");
const DOCS = join(ROOT, "docs");
const DOC_FILES = readdirSync(DOCS)
  .filter((name) => name.endsWith(".md"))
  .sort()
  .map((name) => join(DOCS, name));
const FILES = [README, ...DOC_FILES];

const read = (file: string): string => readFileSync(file, "utf8");
const rel = (file: string): string => relative(ROOT, file);

interface Link {
  target: string;
  line: number;
}

/** The text with every fenced code block (``` or ~~~) blanked out, line count kept. */
function withoutFences(markdown: string): string {
  const out: string[] = [];
  let fence: { char: string; length: number } | undefined;
  for (const line of markdown.split("\n")) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker !== undefined) {
      fence = { char: marker.charAt(0), length: marker.length };
      out.push("");
    } else if (fence !== undefined) {
      const closing = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line)?.[1];
      if (closing !== undefined && closing.charAt(0) === fence.char && closing.length >= fence.length) fence = undefined;
      out.push("");
    } else {
      out.push(line);
    }
  }
  return out.join("\n");
}

/** Inline code spans (`x`, ``x``) replaced by `replacement(content)`. */
function replaceInlineCode(text: string, replacement: (content: string) => string): string {
  return text.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_span, _ticks: string, content: string) => replacement(content.trim()));
}

/** Markdown links and reference definitions outside code, with the line they are on. */
function extractLinks(markdown: string): Link[] {
  const text = replaceInlineCode(withoutFences(markdown), () => "code");
  const lineAt = (index: number): number => text.slice(0, index).split("\n").length;
  const links: Link[] = [];
  const inline = /!?\[((?:[^[\]]|\[[^\]]*\])*)\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
  for (const match of text.matchAll(inline)) {
    links.push({ target: (match[2] ?? "").replace(/^<(.*)>$/, "$1"), line: lineAt(match.index) });
  }
  for (const match of text.matchAll(/^ {0,3}\[[^\]]+\]:[ \t]*(<[^>]*>|\S+)/gm)) {
    links.push({ target: (match[1] ?? "").replace(/^<(.*)>$/, "$1"), line: lineAt(match.index) });
  }
  return links;
}

/** GitHub's heading id: lower-case, punctuation dropped except `-` and `_`, spaces → `-`. */
function githubSlug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

/** The rendered text of a heading: code spans keep their content, links their text, no HTML tags. */
function headingText(raw: string): string {
  return replaceInlineCode(raw, (content) => content)
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .trim();
}

/** Every anchor of a document, duplicates numbered (`x`, `x-1`, `x-2`) as GitHub does. */
function anchorsOf(markdown: string): Set<string> {
  const lines = withoutFences(markdown).split("\n");
  const headings: string[] = [];
  lines.forEach((line, i) => {
    const atx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (atx) {
      headings.push(atx[1] ?? "");
      return;
    }
    const next = lines[i + 1];
    const previous = lines[i - 1];
    const paragraphLine = line.trim() !== "" && !/^ {0,3}([-*+>|]|\d+[.)]|#)/.test(line);
    const startsParagraph = previous === undefined || previous.trim() === "";
    if (next !== undefined && paragraphLine && startsParagraph && /^ {0,3}(=+|-+)[ \t]*$/.test(next)) headings.push(line.trim());
  });
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const heading of headings) {
    const base = githubSlug(headingText(heading));
    let slug = base;
    while (seen.has(slug)) {
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      slug = `${base}-${n}`;
    }
    seen.set(slug, 0);
    anchors.add(slug);
  }
  return anchors;
}

const isExternal = (target: string): boolean => /^(https?:|mailto:|\/\/)/i.test(target);

/** Where a relative link leads: the file (absolute) and the anchor, if any. */
function resolveLink(from: string, target: string): { file: string; anchor: string | undefined } {
  const hash = target.indexOf("#");
  const path = decodeURIComponent((hash < 0 ? target : target.slice(0, hash)).replace(/\?.*$/, ""));
  const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
  if (path === "") return { file: from, anchor };
  return { file: path.startsWith("/") ? join(ROOT, path) : resolve(dirname(from), path), anchor };
}

/** Each broken relative link of a file (its text given, or read), as "file:line → target: why". */
function brokenLinks(file: string, markdown = read(file)): { missingFiles: string[]; missingAnchors: string[] } {
  const missingFiles: string[] = [];
  const missingAnchors: string[] = [];
  for (const { target, line } of extractLinks(markdown)) {
    if (isExternal(target)) continue;
    const where = `${rel(file)}:${line} → ${target}`;
    const { file: dest, anchor } = resolveLink(file, target);
    if (!existsSync(dest)) {
      missingFiles.push(`${where}: no such file ${rel(dest)}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!dest.endsWith(".md")) {
      if (!/^L\d+(-L\d+)?$/.test(anchor)) missingAnchors.push(`${where}: ${rel(dest)} is not markdown, it has no #${anchor}`);
    } else if (!anchorsOf(read(dest)).has(anchor)) {
      missingAnchors.push(`${where}: no heading of ${rel(dest)} has the slug "${anchor}"`);
    }
  }
  return { missingFiles, missingAnchors };
}

describe("relative links in README.md and docs/", () => {
  const cases = FILES.map((file) => ({ name: rel(file), file }));

  it.each(cases)("every relative link in $name points to a file that exists", ({ file }) => {
    expect(brokenLinks(file).missingFiles).toEqual([]);
  });

  it.each(cases)("every #anchor in $name names a heading of the file it points to", ({ file }) => {
    expect(brokenLinks(file).missingAnchors).toEqual([]);
  });

  it("finds relative links with anchors to check in every file (the extractor is not silently empty)", () => {
    for (const file of FILES) {
      const relativeLinks = extractLinks(read(file)).filter((link) => !isExternal(link.target));
      expect(
        relativeLinks.some((link) => link.target.includes("#")),
        rel(file),
      ).toBe(true);
    }
  });
});

describe("README.md is a newcomer's page", () => {
  const readme = read(README);
  const prose = withoutFences(readme).split("\n");
  const codeBlockLines = readme
    .split("\n")
    .filter((line, i) => prose[i] === "" && line.trim() !== "" && !/^ {0,3}(`{3,}|~{3,})/.test(line))
    .map((line) => line.trim());

  it("is shorter than 300 lines", () => {
    expect(readme.replace(/\n$/, "").split("\n").length).toBeLessThan(300);
  });

  it("shows the demo and the test suite as commands that work on a fresh machine", () => {
    expect(codeBlockLines).toContain("npm ci && npm run demo");
    expect(codeBlockLines).toContain("npm ci && npm test");
  });

  it("links every file in docs/", () => {
    const linked = new Set(
      extractLinks(readme)
        .filter((link) => !isExternal(link.target))
        .map((link) => resolveLink(README, link.target).file),
    );
    expect(DOC_FILES.filter((file) => !linked.has(file)).map(rel)).toEqual([]);
  });
});

describe("docs/ files", () => {
  it.each(DOC_FILES.map((file) => ({ name: rel(file), file })))("$name starts with a one-line title and a link back to the README", ({ file }) => {
    const lines = read(file).split("\n");
    expect(lines[0]).toMatch(/^# \S/);
    const firstParagraph = lines.slice(1).find((line) => line.trim() !== "") ?? "";
    expect(extractLinks(firstParagraph).map((link) => resolveLink(file, link.target).file)).toContain(README);
  });
});

describe("the link checker", () => {
  it("slugs headings as GitHub does: lower case, punctuation dropped except - and _, spaces to -", () => {
    expect(githubSlug("Admin API: idempotency records")).toBe("admin-api-idempotency-records");
    expect(githubSlug("Shared store (Redis)")).toBe("shared-store-redis");
    expect(githubSlug("snake_case & kebab-case — ok?")).toBe("snake_case--kebab-case--ok");
  });

  it("numbers duplicate headings -1, -2 and reads code spans, links and setext headings", () => {
    const anchors = anchorsOf("# Title\n\n## Logs\n\n## Logs\n\n### Logs\n\n## `upstream.url` and [links](x.md)\n\nSetext\n---\n");
    expect([...anchors]).toEqual(["title", "logs", "logs-1", "logs-2", "upstreamurl-and-links", "setext"]);
  });

  it("ignores headings and links inside fenced code blocks and inline code", () => {
    const markdown = "```sh\n# not a heading\n[not](a-link.md)\n```\n\nSee `[code](nope.md)` and [real](real.md#x).\n";
    expect(anchorsOf(markdown).size).toBe(0);
    expect(extractLinks(markdown)).toEqual([{ target: "real.md#x", line: 6 }]);
  });

  it("treats http(s) and mailto links as external and anchors-only links as the same file", () => {
    expect(["https://example.com/a.md", "http://x", "mailto:a@b.c"].every(isExternal)).toBe(true);
    expect(isExternal("docs/semantics.md")).toBe(false);
    expect(resolveLink(README, "#quick-start")).toEqual({ file: README, anchor: "quick-start" });
  });

  it("reports a link to a missing file and an anchor no heading has, and accepts good ones", () => {
    const markdown = "[a](docs/no-such-file.md) [b](docs/semantics.md#no-such-heading) [c](#quick-start) [d](docs/semantics.md#idempotency)\n";
    expect(brokenLinks(README, markdown)).toEqual({
      missingFiles: ["README.md:1 → docs/no-such-file.md: no such file docs/no-such-file.md"],
      missingAnchors: ['README.md:1 → docs/semantics.md#no-such-heading: no heading of docs/semantics.md has the slug "no-such-heading"'],
    });
  });
});
