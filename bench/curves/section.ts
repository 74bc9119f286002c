/** What each curve hands back: its Markdown (notes and tables), its chart, and what failed. */
import type { CurveName } from "./args.js";
import type { Chart } from "./chart.js";

export interface Section {
  curve: CurveName;
  title: string;
  /** Markdown under the section's heading: how it was measured, then the tables */
  body: string;
  chart: Chart;
  /** the PNG's file name in the output directory */
  png: string;
  /** what went wrong (each was printed when it happened too); the run exits non-zero if any */
  failures: string[];
  /** wall time the curve took, ms */
  ms: number;
}

/** The error of a failed step as one line for a table or a list. */
export function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "unknown error";
}
