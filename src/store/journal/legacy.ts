/**
 * The journal file of payguard before the journal became a SQLite table, read once to migrate
 * it (migrate.ts). One entry a line: `<checksum> <json>\n`, the checksum being the hex CRC32 of
 * the JSON text. Lines that fail the checksum, do not parse, or lack their newline (a write torn
 * by a crash) are skipped and reported, never fatal. Pure: no I/O.
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { decodeEntry, isExpired, type JournalEntry } from "./entry.js";

/** A line skipped while loading; `line` is 1-based. */
export interface TornLine {
  line: number;
  reason: string;
}

const NEWLINE = 0x0a;

// zlib.crc32 exists from Node 20.15 / 22.2; engines (>=20.19) guarantee it, the fallback is belt and braces.
const crc32 = (zlib as { crc32?: (data: string) => number }).crc32;
function checksum(text: string): string {
  if (typeof crc32 === "function") return crc32(text).toString(16).padStart(8, "0");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The file's pending, unexpired entries, oldest first (a later line for a key wins), and the lines skipped. */
export function parseLegacy(content: Buffer, now: number): { entries: JournalEntry[]; torn: TornLine[] } {
  const index = new Map<string, JournalEntry>();
  const torn: TornLine[] = [];
  // Only bytes up to the last newline are complete lines; anything after it is a torn write.
  const completeBytes = content.lastIndexOf(NEWLINE) + 1;
  const lines = content.subarray(0, completeBytes).toString("utf8").split("\n");
  lines.pop(); // the empty string after the final newline
  lines.forEach((text, i) => {
    const result = decodeLine(text);
    if (typeof result === "string") {
      torn.push({ line: i + 1, reason: result });
      return;
    }
    index.delete(result.key); // a later line for the same key wins, and counts as the newer one
    if (!isExpired(result, now)) index.set(result.key, result);
  });
  if (completeBytes < content.length) torn.push({ line: lines.length + 1, reason: "torn write: last line has no newline" });
  return { entries: [...index.values()], torn };
}

/** The entry, or why the line is unusable. */
function decodeLine(text: string): JournalEntry | string {
  const space = text.indexOf(" ");
  if (space < 0) return "no checksum";
  const json = text.slice(space + 1);
  if (checksum(json) !== text.slice(0, space)) return "checksum mismatch";
  return decodeEntry(json);
}
