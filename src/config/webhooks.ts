/**
 * The `webhooks` checks that need the gateways: each endpoint names a configured gateway
 * whose signature scheme payguard knows, paths are distinct, the listener's port is its own,
 * and the store keeps events durably (sqlite or postgres: an event is acknowledged only once
 * stored). Pure.
 */

import { WEBHOOK_SCHEMES, type WebhookEndpoint } from "./schema/webhooks.js";
import type { GatewaySpec } from "./schema.js";

export type WebhookScheme = (typeof WEBHOOK_SCHEMES)[number];

/** The scheme an endpoint's events are verified with: its own, else its gateway's profile's (undefined: none known). */
export function schemeOf(endpoint: WebhookEndpoint, specs: readonly GatewaySpec[]): WebhookScheme | undefined {
  if (endpoint.scheme) return endpoint.scheme;
  const profile = specs.find((s) => s.name === endpoint.gateway)?.config.upstream.gateway;
  return WEBHOOK_SCHEMES.find((scheme) => scheme === profile);
}

export function webhookProblems(specs: readonly GatewaySpec[]): string[] {
  const first = specs[0];
  if (!first || first.config.webhooks.endpoints.length === 0) return [];
  const { webhooks, store, server, admin } = first.config;
  const problems: string[] = [];
  if (store.type !== "sqlite" && store.type !== "postgres")
    problems.push(`webhooks.endpoints: need store.type sqlite or postgres (an event is acknowledged only once stored durably; ${store.type} is not offered)`);
  if ([server.port, admin.port, ...specs.map((s) => s.port)].includes(webhooks.port) && webhooks.port !== 0)
    problems.push(`webhooks.port: ${webhooks.port} is already another listener's`);
  const names = specs.map((s) => s.name);
  const paths = new Set<string>();
  webhooks.endpoints.forEach((endpoint, i) => {
    const at = `webhooks.endpoints[${i}]`;
    if (!names.includes(endpoint.gateway)) problems.push(`${at}.gateway: no gateway "${endpoint.gateway}" (configured: ${names.join(", ")})`);
    else if (!schemeOf(endpoint, specs))
      problems.push(`${at}.scheme: gateway "${endpoint.gateway}" has no webhook scheme payguard verifies; set scheme (${WEBHOOK_SCHEMES.join(", ")})`);
    else problems.push(...schemeProblems(endpoint, schemeOf(endpoint, specs), at));
    if (paths.has(endpoint.path)) problems.push(`${at}.path: ${endpoint.path} is already another endpoint's`);
    paths.add(endpoint.path);
  });
  return problems;
}

/** What an endpoint's scheme needs besides the common fields. */
function schemeProblems(endpoint: WebhookEndpoint, scheme: WebhookScheme | undefined, at: string): string[] {
  if (scheme === "paypal") {
    return [
      ...(endpoint.webhookId ? [] : [`${at}.webhookId: PayPal signs the id of the webhook subscription; set it`]),
      ...(endpoint.certificate ? [] : [`${at}.certificate: PayPal's signing certificate must be pinned (a PEM file); it is never fetched`]),
    ];
  }
  const problems = endpoint.secret ? [] : [`${at}.secret: required for ${scheme} signatures`];
  if (scheme === "square" && !endpoint.notificationUrl)
    problems.push(`${at}.notificationUrl: Square signs the URL registered on the subscription; set it exactly as registered`);
  return problems;
}
