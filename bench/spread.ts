/**
 * `npm run bench:spread -- a.md b.md c.md`: the goals of several `npm run bench` reports side
 * by side, each measured in its own run, with their spread (min–max) and how many runs met
 * each goal. The issue's goals hold only where every run meets them. Prints markdown.
 */
import { readFileSync } from "node:fs";

interface Goal {
  measured: number;
  unit: string;
  goal: string;
  met: boolean;
}

/** The rows of a report's "### Goals" table, by target name. */
export function goalsOf(markdown: string): Map<string, Goal> {
  const section = markdown.split("### Goals")[1]?.split("\n### ")[0] ?? "";
  const goals = new Map<string, Goal>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    // | target | measured | goal | result |
    if (cells.length !== 6 || cells[1] === "target" || cells[1]?.startsWith("---")) continue;
    const [, name, measured, goal, result] = cells as [string, string, string, string, string];
    const [value, ...unit] = measured.split(" ");
    goals.set(name, { measured: Number(value), unit: unit.join(" "), goal, met: result === "met" });
  }
  return goals;
}

function main(files: string[]): void {
  if (files.length < 2) throw new Error("usage: npm run bench:spread -- <RESULTS.md> <RESULTS.md> [...]");
  const runs = files.map((f) => goalsOf(readFileSync(f, "utf8")));
  const names = [...new Set(runs.flatMap((r) => [...r.keys()]))];
  const digits = (g: Goal | undefined) => (g?.unit === "×" ? 2 : 3);
  const lines = [
    `| target | ${files.map((_, i) => `run ${i + 1}`).join(" | ")} | spread (min–max) | goal | runs that meet it |`,
    `|---|${files.map(() => "---").join("|")}|---|---|---|`,
  ];
  for (const name of names) {
    const each = runs.map((r) => r.get(name));
    const values = each.filter((g): g is Goal => g !== undefined && Number.isFinite(g.measured)).map((g) => g.measured);
    const first = each.find((g) => g !== undefined);
    const d = digits(first);
    const unit = first?.unit ?? "";
    const spread = values.length ? `${Math.min(...values).toFixed(d)}–${Math.max(...values).toFixed(d)} ${unit}` : "n/a";
    const met = each.filter((g) => g?.met).length;
    lines.push(
      `| ${name} | ${each.map((g) => (g && Number.isFinite(g.measured) ? g.measured.toFixed(d) : "n/a")).join(" | ")} | ${spread} | ${first?.goal ?? ""} | ${met} of ${files.length} |`,
    );
  }
  console.log(lines.join("\n"));
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
