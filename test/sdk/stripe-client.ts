import Stripe from "stripe";

/** stripe-node pointed at payguard by host and port, nothing else changed. */
export function stripeClient(baseUrl: string, maxNetworkRetries = 0): Stripe {
  const { hostname, port } = new URL(baseUrl);
  return new Stripe("sk_test_payguard", { host: hostname, port: Number(port), protocol: "http", maxNetworkRetries, telemetry: false });
}
