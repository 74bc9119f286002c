/**
 * What the curves send: new-key charges with a real JSON body of a given size (an order with
 * line items — many members, nested objects, numbers and strings, keys not in sorted order —
 * since payguard canonicalises JSON for the fingerprint, up to a size, and that is what a
 * big body costs), and a small GET that payguard passes through.
 */
import type { Shot } from "./cannon.js";

export const JSON_HEADERS = { "content-type": "application/json", authorization: "Bearer sk_test_bench" };

function item(i: number): object {
  return {
    sku: `sku_${String(i).padStart(6, "0")}`,
    name: `Line item ${i}`,
    quantity: 1 + (i % 5),
    unit_amount: 100 + ((i * 37) % 9900),
    tax: { rate: 0.2, code: "VAT", inclusive: i % 2 === 0 },
    tags: ["bench", i % 3 === 0 ? "gift" : "std"],
  };
}

/** A JSON object of exactly `bytes` bytes (at least the ~150 of its fixed members). */
export function jsonBody(bytes: number): string {
  const order = { amount: 1999, currency: "eur", customer: "cus_bench", description: "cost curves", metadata: { channel: "web", order: "ord_1" } };
  const items: object[] = [];
  const bare = JSON.stringify({ ...order, items, note: "" }).length;
  let length = bare;
  for (let i = 0; ; i++) {
    const next = item(i);
    const added = JSON.stringify(next).length + (items.length ? 1 : 0);
    if (length + added > bytes) break;
    items.push(next);
    length += added;
  }
  const text = JSON.stringify({ ...order, items, note: "x".repeat(Math.max(0, bytes - length)) });
  if (bytes >= bare && text.length !== bytes) throw new Error(`jsonBody(${bytes}) made ${text.length} bytes`);
  return text;
}

/** POST /v1/charges with a `bytes`-byte JSON body and a new Idempotency-Key each. */
export function freshCharge(bytes: number): Shot {
  return { method: "POST", path: "/v1/charges", headers: JSON_HEADERS, body: jsonBody(bytes), freshKeys: true };
}

/** A GET payguard passes through (no idempotency). */
export const BALANCE: Shot = { method: "GET", path: "/v1/balance" };

/** POST /v1/passthrough, idempotency off (a route startPayguard configures): the same body, no store. */
export function passthroughPost(bytes: number): Shot {
  return { method: "POST", path: "/v1/passthrough", headers: JSON_HEADERS, body: jsonBody(bytes) };
}
