/**
 * The logger. Request lines carry named fields only (never headers, bodies or query
 * strings), so secrets and card data cannot reach a log by construction. Everything else
 * logged as an object — a call's object, an error's own properties, a child logger's
 * bindings — is scrubbed at any depth: the value of every member whose name is a secret's or
 * a card field's is replaced, and binary data is never dumped.
 */
import { writeSync } from "node:fs";
import { type DestinationStream, type Logger, pino } from "pino";
import { isSensitiveName } from "./sensitive.js";

export type { Logger };

export const CENSOR = "[redacted]";

/** Deeper than this, a value is not walked but dropped: it could hide anything. */
const MAX_DEPTH = 12;

/**
 * A copy of `value` safe to log: sensitive members censored at any depth, errors as plain
 * objects (type, message, stack, own properties), Buffers and typed arrays as their length,
 * cycles cut. Pure.
 */
export function scrub(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[too deep]";
  if (ArrayBuffer.isView(value)) return `[binary: ${value.byteLength} bytes]`;
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1, seen));
    const source = value instanceof Error ? { ...value, type: value.name, message: value.message, stack: value.stack } : value;
    const out: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(source)) out[name] = isSensitiveName(name) ? CENSOR : scrub(child, depth + 1, seen);
    if (value instanceof Error && value.cause !== undefined) out.cause = scrub(value.cause, depth + 1, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

const scrubObject = (object: Record<string, unknown>) => scrub(object) as Record<string, unknown>;

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: "payguard" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: scrubObject },
      // Errors are scrubbed into plain objects above; pino's own err serializer would re-type them.
      serializers: { err: (err: unknown) => err },
    },
    destination ?? batchedStdout(),
  );
  // pino formats a child's bindings with no hook of ours: scrub them on the way in. Children
  // are created from their parent's prototype chain, so theirs inherit this child() too.
  const child = logger.child;
  logger.child = function scrubbedChild(this: Logger, bindings, options) {
    return child.call(this, scrubObject(bindings), options);
  } as Logger["child"];
  return logger;
}

/** How long a log line may wait in the buffer before it is written. */
export const LOG_FLUSH_MS = 100;

/**
 * Standard output, written in batches of about 8 kB (or every LOG_FLUSH_MS) instead of a
 * write per line: a write per access line was 6 % of CPU under load (measured). The lines
 * wait in an array, joined once per batch: sonic-boom's own buffering (minLength) measures
 * its pending string on every write, flattening it each time — about 9 kB allocated per
 * 250-byte line (bench:alloc). The rest is written synchronously at exit (a batch still in
 * flight then may land after it); a SIGKILL loses at most the last 100 ms of lines.
 */
function batchedStdout(): DestinationStream {
  const stream = pino.destination({ sync: false });
  let lines: string[] = [];
  let size = 0;
  const flush = () => {
    if (lines.length === 0 || (stream as { destroyed?: boolean }).destroyed) return;
    stream.write(lines.join(""));
    lines = [];
    size = 0;
  };
  setInterval(flush, LOG_FLUSH_MS).unref();
  // At exit no asynchronous write will finish: what sonic-boom holds, then the waiting lines,
  // are written synchronously.
  process.once("exit", () => {
    try {
      stream.flushSync();
    } catch {
      // not open yet, or already closed
    }
    writeAllSync(1, lines.join(""));
  });
  return {
    write(line: string) {
      lines.push(line);
      size += line.length;
      if (size >= BATCH_BYTES) flush();
    },
  };
}

const BATCH_BYTES = 8 * 1024;

/** Every byte of `text` to `fd`, synchronously; a full non-blocking pipe (EAGAIN) is tried again. */
function writeAllSync(fd: number, text: string): void {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return;
    }
  }
}
