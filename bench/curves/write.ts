/** CURVES.md and one PNG per curve, in the output directory; each section printed as well. */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { Params } from "./args.js";
import { svgOf } from "./chart.js";
import { seconds } from "./format.js";
import { machineLines } from "./machine.js";
import { writePng } from "./png.js";
import type { Section } from "./section.js";

function failureLines(section: Section): string[] {
  if (section.failures.length === 0) return [];
  return ["", "**Failures**", "", ...section.failures.map((f) => `- ${f}`)];
}

export function printSection(section: Section): void {
  console.log(`\n## ${section.title} (${seconds(section.ms)})\n\n${section.body}${failureLines(section).join("\n")}\n`);
}

export async function writeReport(sections: Section[], params: Params, totalMs: number): Promise<string> {
  mkdirSync(params.out, { recursive: true });
  const parts = [
    "# payguard cost curves",
    "",
    "Written by `npm run bench:curves` (bench/curves.ts).",
    "",
    ...machineLines(params),
    `- whole run took ${seconds(totalMs)}`,
    "",
  ];
  for (const section of sections) {
    const chart = await writePng(svgOf(section.chart), join(params.out, section.png));
    parts.push(
      `## ${section.title}`,
      "",
      `Took ${seconds(section.ms)}.`,
      "",
      section.body,
      ...failureLines(section),
      "",
      `![${section.title}](${basename(chart)})`,
      "",
    );
  }
  const file = join(params.out, "CURVES.md");
  writeFileSync(file, parts.join("\n"));
  return file;
}
