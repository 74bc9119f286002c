/**
 * One closed-loop autocannon run that counts what went wrong instead of throwing: non-2xx
 * answers, connection errors and timeouts are part of a curve's result. Latencies in ms with
 * sub-ms precision, from each 2xx response (autocannon's own histogram keeps whole ms).
 */
import autocannon from "autocannon";
import { percentile } from "../load.js";

export interface Shot {
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** a new Idempotency-Key on every request */
  freshKeys?: boolean;
}

export interface Run {
  /** 2xx responses per second */
  rps: number;
  /** responses completed (any status) */
  requests: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  /** connection errors, timeouts included */
  errors: number;
  timeouts: number;
  /** the first non-2xx status or error seen, to tell what went wrong */
  first?: string;
}

export interface FireOptions {
  seconds: number;
  connections: number;
  /** seconds a request may take before autocannon counts a timeout (its default: 10) */
  timeoutSeconds?: number;
  /** requests per second over all connections (autocannon's overallRate); unset or 0: each connection back to back */
  rate?: number;
}

let runs = 0;

function keyed(shot: Shot): autocannon.Request[] | undefined {
  if (!shot.freshKeys) return undefined;
  const prefix = `curves-${process.pid}-${++runs}`;
  let n = 0;
  return [{ setupRequest: (req) => ({ ...req, headers: { ...req.headers, "idempotency-key": `${prefix}-${++n}` } }) }];
}

export async function fire(url: string, shot: Shot, options: FireOptions): Promise<Run> {
  const latencies: number[] = [];
  let first: string | undefined;
  const requests = keyed(shot);
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: url + shot.path,
        method: shot.method,
        headers: shot.headers,
        body: shot.body,
        connections: options.connections,
        duration: options.seconds,
        timeout: options.timeoutSeconds ?? 10,
        ...(options.rate ? { overallRate: options.rate } : {}),
        ...(requests ? { requests } : {}),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on("response", (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
      else first ??= `status ${status}`;
    });
    instance.on("reqError", (err) => {
      first ??= err.message;
    });
  });
  const sorted = Float64Array.from(latencies).sort();
  return {
    rps: result["2xx"] / result.duration,
    requests: result.requests.total,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : Number.NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    ...(first ? { first } : {}),
  };
}

/** "" when the run was clean, else what went wrong, for a table cell or an error message. */
export function failures(run: Pick<Run, "requests" | "non2xx" | "errors" | "timeouts" | "first">): string {
  const parts = [
    run.requests === 0 ? "no response within the run" : "",
    run.non2xx ? `${run.non2xx} non-2xx` : "",
    run.errors - run.timeouts > 0 ? `${run.errors - run.timeouts} errors` : "",
    run.timeouts ? `${run.timeouts} timeouts` : "",
  ];
  const found = parts.filter(Boolean).join(", ");
  return found && run.first ? `${found} (first: ${run.first})` : found;
}
