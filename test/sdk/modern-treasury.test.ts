/**
 * modern-treasury (a Stainless-generated SDK) under the generic profile: it keys its errors
 * on the status, so plain problem+json is enough, with the whole document in `err.error`.
 */
import ModernTreasury from "modern-treasury";
import { steps } from "../support/fake-gateway.js";
import { describeSdk } from "./contract.js";

describeSdk("modern-treasury", {
  gateway: "generic",
  client: (baseURL) => {
    const mt = new ModernTreasury({ apiKey: "mt_test", organizationID: "org_payguard", baseURL, maxRetries: 0 });
    return {
      create: (key, amount) =>
        mt.paymentOrders.create(
          { amount, direction: "credit", originating_account_id: "0f8e3719-3dfd-4613-9bbf-c0333781b59f", type: "ach" },
          { idempotencyKey: key },
        ),
    };
  },
  isCreate: (req) => req.method === "POST" && req.url === "/api/payment_orders",
  created: steps.json(201, { id: "po_payguard_1", object: "payment_order", status: "approved", amount: 1000 }),
  idOf: (order) => (order as { id?: string }).id,
  ownError: (err) => err instanceof ModernTreasury.APIError,
  codeOf: (err) => ((err as InstanceType<typeof ModernTreasury.APIError>).error as { code?: string } | undefined)?.code,
  outcomeOf: (err) => ((err as InstanceType<typeof ModernTreasury.APIError>).error as { outcome?: unknown } | undefined)?.outcome,
});
