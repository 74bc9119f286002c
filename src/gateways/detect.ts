/**
 * Which gateway an upstream URL points at, for `upstream.gateway: auto`. Pure: the host
 * decides, nothing is looked up. Any host not listed is `generic`.
 */

export const GATEWAYS = ["stripe", "adyen", "paypal", "square", "checkout", "generic"] as const;
export type GatewayName = (typeof GATEWAYS)[number];

/** Hosts (exact) and host suffixes (leading "."), per gateway, from each gateway's API docs. */
const HOSTS: Readonly<Record<Exclude<GatewayName, "generic">, readonly string[]>> = {
  // https://docs.stripe.com/api (base URL https://api.stripe.com)
  stripe: ["api.stripe.com"],
  // https://docs.adyen.com/development-resources/live-endpoints: test hosts are *.adyen.com
  // (checkout-test.adyen.com, pal-test.adyen.com, ...), live hosts
  // {prefix}-checkout-live.adyenpayments.com and *-live.adyen.com
  adyen: [".adyen.com", ".adyenpayments.com"],
  // https://developer.paypal.com/api/rest/requests/ (api-m.paypal.com, api-m.sandbox.paypal.com)
  paypal: ["api-m.paypal.com", "api-m.sandbox.paypal.com", "api.paypal.com", "api.sandbox.paypal.com"],
  // https://developer.squareup.com/docs/build-basics/using-rest-api
  square: ["connect.squareup.com", "connect.squareupsandbox.com"],
  // https://www.checkout.com/docs/developer-resources/api/api-endpoints:
  // {prefix}.api.checkout.com and {prefix}.api.sandbox.checkout.com; legacy api.checkout.com
  checkout: ["api.checkout.com", "api.sandbox.checkout.com", ".api.checkout.com", ".api.sandbox.checkout.com"],
};

/** The profile `auto` picks for `url`; `generic` for any other host or an invalid URL. */
export function detectGateway(url: string): GatewayName {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return "generic";
  }
  for (const [name, hosts] of Object.entries(HOSTS) as [GatewayName, readonly string[]][]) {
    if (hosts.some((h) => (h.startsWith(".") ? host.endsWith(h) : host === h))) return name;
  }
  return "generic";
}
