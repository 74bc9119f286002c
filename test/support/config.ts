/** The problems a config text is refused with (a ConfigError's list); throws when it is accepted. */
import { isConfigError, parseConfig } from "../../src/config/load.js";

export function problemsOf(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, env);
  } catch (err) {
    if (isConfigError(err)) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}
