/**
 * PayPal's notification headers, signed as PayPal signs (its RSA key: here a test
 * certificate's, pinned in payguard's config as PayPal's would be). No current PayPal SDK
 * signs or verifies webhooks (docs/design/webhooks-schemes.md).
 */
import { randomUUID, sign } from "node:crypto";
import { crc32 } from "node:zlib";

export function paypalHeaders(
  payload: string | Buffer,
  key: string,
  webhookId: string,
  transmission = { id: randomUUID(), time: new Date().toISOString() },
): Record<string, string> {
  const signed = `${transmission.id}|${transmission.time}|${webhookId}|${crc32(Buffer.from(payload)) >>> 0}`;
  return {
    "content-type": "application/json",
    "paypal-transmission-id": transmission.id,
    "paypal-transmission-time": transmission.time,
    "paypal-transmission-sig": sign("sha256", Buffer.from(signed), key).toString("base64"),
    "paypal-auth-algo": "SHA256withRSA",
  };
}
