/**
 * The demo's command line: flags, their defaults and their validation. Every problem is
 * collected and reported together; main exits 2 on any.
 */
import { parseArgs } from "node:util";
import { brandGuard } from "../brand.js";
import type { FaultRates } from "../sim/gateway.js";

export interface DemoOptions {
  payments: number;
  concurrency: number;
  seed: number;
  faults: FaultRates;
  /** per-attempt client timeout */
  clientTimeoutMs: number;
  /** attempts per payment, first one included */
  attempts: number;
  /** how late a "late" answer comes (the charge is made at once) */
  lateMs: number;
  json: boolean;
  help: boolean;
}

export const USAGE = `npm run demo -- [flags]    (or: node dist/demo/main.js [flags])

Runs the same payments against a simulated, misbehaving payment gateway twice — directly,
then through payguard — and compares what the gateway charged with what the clients learned.
Through payguard the gateway also posts each charge's webhook event (late, duplicated): the
payments flagged indeterminate are settled by them.

  --payments N          payments per run (default 300)
  --concurrency N       concurrent clients (default 24)
  --seed N              fault seed; the same seed gives the same faults (default 42)
  --late R              rate of answers sent --late-ms after charging (default 0.05)
  --reset R             rate of connections reset after charging (default 0.05)
  --reset-before R      rate of connections reset before charging (default 0)
  --unavailable R       rate of 503s that processed nothing (default 0.05)
  --rate-limited R      rate of 429s with Retry-After: 1 (default 0.05)
  --client-timeout MS   the clients' per-attempt timeout (default 400)
  --attempts N          attempts per payment, the first included (default 4)
  --late-ms MS          how late a late answer is (default 1000)
  --json                print the summary as one JSON object
  --help                this text

Rates are fractions of the requests that reach the gateway (0.05 = 5 %); their sum must be ≤ 1.
Exit status: 0 when the demo's claims hold; 1 when payguard let a payment be charged twice, a
client was told of a charge the gateway never made, an event reached the service twice, or a
charged flagged payment was not settled by its event; 2 on a usage error.`;

export class UsageError extends Error {
  readonly isUsageError = true;
}

export const isUsageError = brandGuard<UsageError>("isUsageError");

/** The flags parseArgs accepts; every value flag is read as a string and checked below. */
const FLAGS = {
  payments: { type: "string" },
  concurrency: { type: "string" },
  seed: { type: "string" },
  late: { type: "string" },
  reset: { type: "string" },
  "reset-before": { type: "string" },
  unavailable: { type: "string" },
  "rate-limited": { type: "string" },
  "client-timeout": { type: "string" },
  attempts: { type: "string" },
  "late-ms": { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type FlagValues = Record<string, string | boolean | undefined>;

/** Parses argv (without node and the script); throws UsageError listing every problem. */
export function parseFlags(argv: string[]): DemoOptions {
  const flags = new FlagReader(readArgs(argv));
  const options: DemoOptions = {
    payments: flags.int("payments", 300, 1, 100_000),
    concurrency: flags.int("concurrency", 24, 1, 1_000),
    seed: flags.int("seed", 42, 0, 2 ** 31 - 1),
    faults: {
      late: flags.rate("late", 0.05),
      resetAfterCharge: flags.rate("reset", 0.05),
      resetBeforeCharge: flags.rate("reset-before", 0),
      unavailable: flags.rate("unavailable", 0.05),
      rateLimited: flags.rate("rate-limited", 0.05),
    },
    clientTimeoutMs: flags.int("client-timeout", 400, 1, 60_000),
    attempts: flags.int("attempts", 4, 1, 10),
    lateMs: flags.int("late-ms", 1000, 0, 60_000),
    json: flags.values.json === true,
    help: flags.values.help === true,
  };
  const sum = Object.values(options.faults).reduce((a, b) => a + b, 0);
  if (sum > 1 + 1e-9) flags.problems.push(`fault rates: must add up to at most 1 (got ${Number(sum.toFixed(6))})`);
  if (flags.problems.length > 0) throw new UsageError(flags.problems.join("\n"));
  return options;
}

/** parseArgs, strict: an unknown flag or a positional is a UsageError. */
function readArgs(argv: string[]): FlagValues {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options: FLAGS }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Reads value flags, noting each bad one in `problems` and using its default instead. */
class FlagReader {
  readonly problems: string[] = [];

  constructor(readonly values: FlagValues) {}

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.values[name] as string | undefined;
    if (raw === undefined) return fallback;
    const value = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`--${name}: must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return value;
  }

  rate(name: string, fallback: number): number {
    const raw = this.values[name] as string | undefined;
    if (raw === undefined) return fallback;
    const value = raw.trim() === "" ? Number.NaN : Number(raw);
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      this.problems.push(`--${name}: must be a fraction from 0 to 1, such as 0.05 (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return value;
  }
}
