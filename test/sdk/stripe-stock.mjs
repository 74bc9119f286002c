// stripe-node as shipped, with no host option: it calls https://api.stripe.com. Run by
// test/sdk/intercept.test.ts in a process whose /etc/hosts sends that name to payguard and
// which trusts payguard's CA through NODE_EXTRA_CA_CERTS only. Prints one JSON line.
import Stripe from "stripe";

const stripe = new Stripe("sk_test_intercepted", { maxNetworkRetries: 0, telemetry: false });
const key = process.argv[2];
const create = (amount) => stripe.paymentIntents.create({ amount, currency: "eur" }, { idempotencyKey: key });
const outcome = async (call) => {
  try {
    const intent = await call();
    return { ok: true, id: intent.id, replayed: intent.lastResponse?.headers["idempotent-replayed"] ?? null };
  } catch (err) {
    return { ok: false, type: err.type, status: err.statusCode, code: err.code ?? err.raw?.code ?? null };
  }
};
const first = await outcome(() => create(1000));
const repeat = await outcome(() => create(1000));
const changed = await outcome(() => create(2000));
console.log(JSON.stringify({ first, repeat, changed }));
