/**
 * The fenced code blocks of the project's Markdown (README.md, docs/*.md), with their info
 * string ("sh", "sql sqlite", "yaml", …), their file, their line and the heading they sit
 * under. A block indented inside a list item is given back without that indent. Pure.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface DocBlock {
  file: string;
  /** 1-based line of the opening fence */
  line: number;
  info: string;
  heading: string;
  text: string;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/** README.md and every docs/*.md (not docs/design: plans, not instructions). */
export function docFiles(): string[] {
  return [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
}

export function docBlocks(files = docFiles()): DocBlock[] {
  return files.flatMap((file) => blocksOf(file, readFileSync(join(ROOT, file), "utf8")));
}

export function blocksOf(file: string, markdown: string): DocBlock[] {
  const lines = markdown.split("\n");
  const blocks: DocBlock[] = [];
  let heading = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fence = /^( *)```(\S.*)?$/.exec(line);
    if (!fence) {
      if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, "");
      continue;
    }
    const indent = fence[1]?.length ?? 0;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^ *```\s*$/.test(lines[j] as string); j++) body.push((lines[j] as string).slice(indent));
    blocks.push({ file, line: i + 1, info: (fence[2] ?? "").trim(), heading, text: body.join("\n") });
    i = j;
  }
  return blocks;
}

/** Every `payguard_…` metric name the docs mention, with where. */
export function documentedMetricNames(files = docFiles()): Map<string, string> {
  const names = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const m of text.matchAll(/\bpayguard_[a-z_]+[a-z]\b/g)) if (!names.has(m[0])) names.set(m[0], file);
  }
  return names;
}
