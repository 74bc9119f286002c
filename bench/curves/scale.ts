/** A chart's y axis: linear from 0 to a round maximum, or logarithmic over whole decades; with its tick values. */

export interface Scale {
  /** 0 (bottom) … 1 (top) for a value */
  at(value: number): number;
  ticks: number[];
  log: boolean;
}

function niceStep(span: number, steps: number): number {
  const raw = span / steps;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10;
  return unit * magnitude;
}

function linear(max: number): Scale {
  const step = niceStep(max > 0 ? max * 1.15 : 1, 5);
  const top = Math.ceil((max > 0 ? max * 1.15 : 1) / step) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  return { at: (v) => v / top, ticks, log: false };
}

function logarithmic(min: number, max: number): Scale {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max * 1.5)));
  // 1, 2, 5 per decade over a short span; decades alone over a long one.
  const steps = hi - lo <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) for (const m of steps) if (m === 1 || e < hi) ticks.push(Number((m * 10 ** e).toPrecision(2)));
  return { at: (v) => (Math.log10(v) - lo) / (hi - lo), ticks, log: true };
}

/** A log scale only where asked and every value is positive. */
export function scaleFor(values: number[], log: boolean): Scale {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return linear(1);
  const max = Math.max(...finite);
  const min = Math.min(...finite);
  return log && min > 0 ? logarithmic(min, max) : linear(max);
}

export function tickLabel(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1e6) return `${v / 1e6}M`;
  if (Math.abs(v) >= 1e4) return `${v / 1e3}k`;
  return String(Number(v.toPrecision(3)));
}
