/**
 * @module Standard Webhooks signatures for what `forward` sends (https://www.standardwebhooks.com):
 * `webhook-signature: v1,<base64 HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>">`, keyed with the
 * base64-decoded secret after its `whsec_` prefix (unlike Stripe, which keys with the secret string itself).
 */
import { Buffer } from "node:buffer";

/** The headers a Signer adds. */
export const SIGNATURE_HEADERS = ["webhook-id", "webhook-timestamp", "webhook-signature"] as const;

export type Signer = (id: string, timestamp: number, body: Uint8Array) => Promise<Record<string, string>>;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MIN_KEY_BYTES = 24;
const MAX_KEY_BYTES = 64;
const encoder = new TextEncoder();

/** The key bytes of a Standard Webhooks secret (`whsec_` + base64, the prefix optional), or why it is not one. */
export function decodeSecret(secret: string): Uint8Array<ArrayBuffer> | string {
  const body = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
  const help = `generate one with \`echo "whsec_$(openssl rand -base64 32)"\` and share it with the receiver`;
  if (body === "" || !BASE64.test(body)) {
    return `expected a Standard Webhooks secret: whsec_ followed by base64 (the value is ${secret.length} characters long and is not shown); ${help}`;
  }
  const key = new Uint8Array(Buffer.from(body, "base64"));
  if (key.byteLength < MIN_KEY_BYTES || key.byteLength > MAX_KEY_BYTES) {
    return `the secret decodes to ${key.byteLength} bytes; Standard Webhooks secrets are ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} random bytes; ${help}`;
  }
  return key;
}

/** A signer for `key`; the HMAC key is imported once, on first use. */
export function createSigner(key: Uint8Array<ArrayBuffer>): Signer {
  let imported: Promise<CryptoKey> | undefined;
  return async (id, timestamp, body) => {
    imported ??= crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const prefix = encoder.encode(`${id}.${timestamp}.`);
    const content = new Uint8Array(prefix.byteLength + body.byteLength);
    content.set(prefix);
    content.set(body, prefix.byteLength);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await imported, content));
    return {
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": `v1,${Buffer.from(mac).toString("base64")}`,
    };
  };
}

/**
 * The `webhook-id` for an idempotency key: the key itself, percent-encoded, with "." written %2E because the
 * signed content uses "." as its separator. The same on every attempt, distinct for every (event, action).
 */
export function webhookId(idempotencyKey: string): string {
  return encodeURIComponent(idempotencyKey).replaceAll(".", "%2E");
}
