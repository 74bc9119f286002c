/**
 * The logger. Request lines carry named fields only (never headers, bodies or query
 * strings), so secrets and card data cannot reach a log by construction; the redact list
 * is a second line of defence for anything logged as an object.
 */
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/** Field names whose values are censored wherever they appear in a logged object. */
export const REDACT_PATHS = [
  "authorization",
  "cookie",
  "headers.authorization",
  "headers.cookie",
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  'headers["proxy-authorization"]',
  "*.authorization",
  "*.cookie",
  "*.apiKey",
  "*.api_key",
  "*.password",
  "*.secret",
  "*.token",
  "*.card",
  "*.number",
  "*.cvc",
  "*.cvv",
  "*.pan",
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "payguard" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
