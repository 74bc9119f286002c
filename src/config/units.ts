/**
 * Human-friendly units in config: durations ("250ms", "10s", "24h") and sizes ("1mb").
 * Pure helpers: parsing only, no I/O. A bare number is taken as milliseconds / bytes.
 */
import bytes from "bytes";
import ms from "ms";

/** Milliseconds for a duration string or number; undefined when it is not one. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  const parsed = ms(trimmed as ms.StringValue) as number | undefined;
  return typeof parsed === "number" && Number.isFinite(parsed) && parsed >= 0 ? parsed : undefined;
}

/** Bytes for a size string ("1mb", "512kb") or number; undefined when it is not one. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  const trimmed = value.trim();
  if (!/^\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?$/i.test(trimmed)) return undefined;
  const parsed = bytes.parse(trimmed);
  return parsed !== null && Number.isFinite(parsed) && parsed >= 0 ? Math.floor(parsed) : undefined;
}

/** "1.5s"-style rendering for summaries and logs. */
export function formatDuration(msValue: number): string {
  return ms(msValue);
}

export function formatSize(size: number): string {
  return bytes.format(size) ?? `${size}B`;
}
