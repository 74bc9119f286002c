/**
 * A curve's chart as SVG: one or more line panels side by side over the same x categories
 * (store sizes, body sizes, connection counts — each ×10 or so apart, so evenly spaced), one
 * line per series, every value printed at its point. Rendered to PNG by png.ts.
 */
import { auto } from "./format.js";
import { type Scale, scaleFor, tickLabel } from "./scale.js";

export interface Series {
  name: string;
  values: number[];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** a logarithmic y axis (values spanning decades) */
  log?: boolean;
}

export interface Chart {
  title: string;
  xLabel: string;
  categories: string[];
  panels: Panel[];
}

const COLORS = ["#2f6fb0", "#d9822b", "#4c9a5a", "#8e44ad", "#c0392b"];
const [PANEL_W, PANEL_H, LEFT, RIGHT, TOP, BOTTOM] = [380, 300, 62, 18, 96, 56];

const esc = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const text = (x: number, y: number, body: string, attrs = "") => `<text x="${x}" y="${y}" ${attrs}>${esc(body)}</text>`;

interface Frame {
  x0: number;
  width: number;
  /** pixel x of category i, pixel y of a value */
  x(i: number): number;
  y(v: number): number;
  scale: Scale;
}

function frameOf(index: number, panel: Panel, categories: number): Frame {
  const x0 = index * PANEL_W + LEFT;
  const width = PANEL_W - LEFT - RIGHT;
  const scale = scaleFor(
    panel.series.flatMap((s) => s.values),
    panel.log ?? false,
  );
  const inner = PANEL_H - 40;
  const step = width / Math.max(1, categories);
  return { x0, width, scale, x: (i) => x0 + step * (i + 0.5), y: (v) => TOP + inner * (1 - scale.at(v)) };
}

function axes(frame: Frame, panel: Panel, chart: Chart): string[] {
  const { x0, width, y } = frame;
  const parts = [text(x0 + width / 2, TOP - 14, panel.title, 'font-size="14" font-weight="bold" text-anchor="middle"')];
  for (const v of frame.scale.ticks) {
    parts.push(`<line x1="${x0}" x2="${x0 + width}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    parts.push(text(x0 - 6, y(v) + 4, tickLabel(v), 'font-size="11" text-anchor="end" fill="#555"'));
  }
  const bottom = y(frame.scale.ticks[0] ?? 0);
  parts.push(`<line x1="${x0}" x2="${x0 + width}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${x0}" x2="${x0}" y1="${TOP}" y2="${bottom}" stroke="#333"/>`);
  chart.categories.forEach((c, i) => {
    parts.push(text(frame.x(i), bottom + 16, c, 'font-size="12" text-anchor="middle"'));
  });
  parts.push(text(x0 + width / 2, bottom + 36, chart.xLabel, 'font-size="12" text-anchor="middle" fill="#333"'));
  const yMid = (TOP + bottom) / 2;
  const label = `${panel.yLabel}${frame.scale.log ? " (log)" : ""}`;
  parts.push(text(x0 - 48, yMid, label, `font-size="12" text-anchor="middle" fill="#333" transform="rotate(-90 ${x0 - 48} ${yMid})"`));
  return parts;
}

const shown = (frame: Frame, v: number) => Number.isFinite(v) && (!frame.scale.log || v > 0);

function line(frame: Frame, series: Series, color: string): string[] {
  const points = series.values.map((v, i) => (shown(frame, v) ? { x: frame.x(i), y: frame.y(v) } : undefined));
  const parts: string[] = [];
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    if (a && b) parts.push(`<line x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}" stroke="${color}" stroke-width="2.5"/>`);
  }
  for (const p of points) if (p) parts.push(`<circle cx="${p.x}" cy="${p.y}" r="4" fill="${color}"/>`);
  return parts;
}

/** Each value printed above its point; labels of one category pushed upwards apart, so close values stay readable. */
function labels(frame: Frame, panel: Panel, colorOf: (name: string) => string): string[] {
  const gap = 13;
  const parts: string[] = [];
  const categories = Math.max(0, ...panel.series.map((s) => s.values.length));
  for (let i = 0; i < categories; i++) {
    const column = panel.series
      .filter((s) => shown(frame, s.values[i] as number))
      .map((s) => ({ v: s.values[i] as number, y: frame.y(s.values[i] as number) - 9, color: colorOf(s.name) }))
      .sort((a, b) => b.y - a.y);
    for (let k = 1; k < column.length; k++) {
      const [below, label] = [column[k - 1], column[k]] as [(typeof column)[number], (typeof column)[number]];
      if (below.y - label.y < gap) label.y = below.y - gap;
    }
    for (const l of column)
      parts.push(
        text(
          frame.x(i),
          l.y,
          auto(l.v),
          `font-size="11" text-anchor="middle" fill="${l.color}" font-weight="bold" stroke="white" stroke-width="3" paint-order="stroke"`,
        ),
      );
  }
  return parts;
}

function legend(chart: Chart, width: number): string[] {
  const names = [...new Set(chart.panels.flatMap((p) => p.series.map((s) => s.name)))];
  if (names.length < 2) return [];
  const slot = 170;
  const start = width / 2 - (names.length * slot) / 2;
  return names.flatMap((name, i) => [
    `<rect x="${start + i * slot}" y="44" width="14" height="14" fill="${COLORS[i % COLORS.length]}"/>`,
    text(start + i * slot + 20, 56, name, 'font-size="13"'),
  ]);
}

export function svgOf(chart: Chart): string {
  const width = chart.panels.length * PANEL_W;
  const height = TOP + PANEL_H + BOTTOM - 20;
  const names = [...new Set(chart.panels.flatMap((p) => p.series.map((s) => s.name)))];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    text(width / 2, 26, chart.title, 'font-size="17" text-anchor="middle" font-weight="bold"'),
    ...legend(chart, width),
  ];
  chart.panels.forEach((panel, i) => {
    const frame = frameOf(i, panel, chart.categories.length);
    parts.push(...axes(frame, panel, chart));
    const colorOf = (name: string) => COLORS[names.indexOf(name) % COLORS.length] as string;
    for (const s of panel.series) parts.push(...line(frame, s, colorOf(s.name)));
    parts.push(...labels(frame, panel, colorOf));
  });
  parts.push("</svg>");
  return parts.join("\n");
}
