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
Exit status: 0 when payguard charged no payment twice, 1 when it did, 2 on a usage error.`;

export class UsageError extends Error {
  readonly isUsageError = true;
}

export const isUsageError = brandGuard<UsageError>("isUsageError");

/** Parses argv (without node and the script); throws UsageError listing every problem. */
export function parseFlags(argv: string[]): DemoOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
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
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  const problems: string[] = [];
  const str = (name: string) => values[name] as string | undefined;
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const value = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`--${name}: must be an integer from ${min} to ${max} (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return value;
  };
  const rate = (name: string, fallback: number) => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const value = raw.trim() === "" ? Number.NaN : Number(raw);
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      problems.push(`--${name}: must be a fraction from 0 to 1, such as 0.05 (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return value;
  };

  const options: DemoOptions = {
    payments: int("payments", 300, 1, 100_000),
    concurrency: int("concurrency", 24, 1, 1_000),
    seed: int("seed", 42, 0, 2 ** 31 - 1),
    faults: {
      late: rate("late", 0.05),
      resetAfterCharge: rate("reset", 0.05),
      resetBeforeCharge: rate("reset-before", 0),
      unavailable: rate("unavailable", 0.05),
      rateLimited: rate("rate-limited", 0.05),
    },
    clientTimeoutMs: int("client-timeout", 400, 1, 60_000),
    attempts: int("attempts", 4, 1, 10),
    lateMs: int("late-ms", 1000, 0, 60_000),
    json: values.json === true,
    help: values.help === true,
  };
  const sum = Object.values(options.faults).reduce((a, b) => a + b, 0);
  if (sum > 1 + 1e-9) problems.push(`fault rates: must add up to at most 1 (got ${Number(sum.toFixed(6))})`);
  if (problems.length > 0) throw new UsageError(problems.join("\n"));
  return options;
}
