/** The webhook listener as check prints it: each endpoint, its scheme and where events go; a secret never. */
import type { WebhookEndpoint } from "../config/schema/webhooks.js";
import type { Config } from "../config/schema.js";
import { formatDuration, formatSize } from "../config/units.js";
import { schemeOf } from "../config/webhooks.js";
import { redactUrl } from "./redact.js";

export function describeWebhooks(config: Config): string[] {
  const { host, port, endpoints, maxBodySize, delivery, lateMatch } = config.webhooks;
  if (endpoints.length === 0) return ["  webhooks  off (no webhooks.endpoints)"];
  const d = formatDuration;
  return [
    `  webhooks  ${host}:${port}, bodies ≤ ${formatSize(maxBodySize)}`,
    `            delivery: attempt ${d(delivery.timeout)}, ${delivery.concurrency} at once per deliverTo, backoff ${d(delivery.backoff.initial)}..${d(delivery.backoff.max)}, dead after ${d(delivery.maxAge)}; late match ${lateMatch.window > 0 ? `for ${d(lateMatch.window)}` : "off"}`,
    ...endpoints.map(
      (e) => `            POST ${e.path}: gateway ${e.gateway}, ${schemeOf(e, config.gateways)} signatures → ${redactUrl(e.deliverTo)}${extras(e)}`,
    ),
  ];
}

/** What a scheme reads besides the secret: Square's signed URL, PayPal's webhook id and pinned certificate file. */
function extras(e: WebhookEndpoint): string {
  const parts = [
    ...(e.notificationUrl ? [`notificationUrl ${redactUrl(e.notificationUrl)}`] : []),
    ...(e.webhookId ? [`webhookId ${e.webhookId}`] : []),
    ...(e.certificate ? [`certificate ${e.certificate}`] : []),
  ];
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}
