/**
 * What `payguard check` prints for a valid config — exactly what `serve` would run: the
 * listeners (proxy, interception, admin and its API, webhooks), limits and shutdown, the
 * store named as itself, tracing, and each gateway with its listeners, the profile in force
 * with every default it set, and the effective policy of each route (./check/).
 * Secrets (a Redis or PostgreSQL password, the encryption key, the admin token, a webhook
 * secret, a CA's key) are never printed; files are named by their path.
 */
import { describeGateways } from "./check/gateway.js";
import { describeListeners } from "./check/listeners.js";
import { describeService, describeTracing } from "./check/service.js";
import { describeStore } from "./check/store.js";
import { describeWebhooks } from "./check/webhooks.js";
import type { LoadedConfig } from "./config/load.js";

export function checkSummary(file: string, loaded: LoadedConfig): string {
  const { config } = loaded;
  const lines = [
    `config ${file}: ok`,
    ...describeListeners(config),
    ...describeService(config),
    ...describeStore(config.store, loaded.storeType),
    ...describeWebhooks(config),
    describeTracing(config.tracing),
    ...describeGateways(loaded),
  ];
  return `${lines.join("\n")}\n`;
}
