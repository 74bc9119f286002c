/** Numbers and tables as the curves print them (stdout and CURVES.md alike). */

export const f = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

/** A number with a precision that suits its size: 12345 → "12345", 12.3 → "12.3", 0.123 → "0.123". */
export function auto(n: number): string {
  if (!Number.isFinite(n)) return "n/a";
  const a = Math.abs(n);
  return n.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

export function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** 1024 → "1 KiB", 1048576 → "1 MiB". */
export function bytesLabel(bytes: number): string {
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** 10000 → "10k", 1000000 → "1M". */
export function countLabel(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

/** "met" / "**not met**" / "not measured". */
export function verdict(ok: boolean | undefined): string {
  return ok === undefined ? "not measured" : ok ? "met" : "**not met**";
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
