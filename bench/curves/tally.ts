/**
 * What hold.ts's request loops saw: latencies of the 2xx answers inside the measured window,
 * every non-2xx, error and timeout of the whole run, and the connections that closed before
 * the run ended — errors and closes counted by the phase they happened in.
 */

export const PHASES = ["opening", "warm-up", "window", "ending"] as const;
export type Phase = (typeof PHASES)[number];
export type ByPhase = Record<Phase, number>;

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

export const byPhase = (): ByPhase => ({ opening: 0, "warm-up": 0, window: 0, ending: 0 });

/** Phases in which a connection can close under the driver (at "ending" the driver closes them all). */
export const DROP_PHASES = PHASES.filter((p) => p !== "ending");

/** "3 / 0 / 2 / 0": the counts in the order of `phases`. */
export function phaseCells(counts: ByPhase, phases: readonly Phase[] = PHASES): string {
  return phases.map((p) => counts[p]).join(" / ");
}

/** The counts of several runs added up. */
export function sumByPhase(runs: ByPhase[]): ByPhase {
  const total = byPhase();
  for (const run of runs) for (const phase of PHASES) total[phase] += run[phase];
  return total;
}

export class Tally {
  phase: Phase = "opening";
  latencies: number[] = [];
  requests = 0;
  non2xx = 0;
  errors = 0;
  timeouts = 0;
  errorsBy = byPhase();
  /** connections closed while the run was going on (not by the driver at its end) */
  dropsBy = byPhase();
  first: string | undefined;
  window = { start: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY };

  answered(status: number, sentAt: number, now: number): void {
    this.requests++;
    // Completed inside the window, whenever sent: also requiring it to be sent inside would
    // leave out every request still open at the end — with seconds of latency at thousands of
    // connections, most of a short window's answers (and the slowest ones).
    const inWindow = now >= this.window.start && now <= this.window.end;
    if (status >= 200 && status < 300) {
      if (inWindow) this.latencies.push(now - sentAt);
    } else {
      this.non2xx++;
      this.first ??= `status ${status}`;
    }
  }

  failed(err: unknown): void {
    this.errors++;
    this.errorsBy[this.phase]++;
    const code = (err as { code?: string }).code ?? "";
    if (TIMEOUT_CODES.has(code)) this.timeouts++;
    this.first ??= `${code} ${(err as Error).message}`.trim();
  }

  dropped(): void {
    if (this.phase !== "ending") this.dropsBy[this.phase]++;
  }
}
