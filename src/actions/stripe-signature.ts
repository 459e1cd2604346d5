/**
 * @module Signing like Stripe: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed with the whole
 * `whsec_…` secret, made by the official `stripe` package over WebCrypto. Shared by `trigger` and `sign`.
 */
import Stripe from "stripe";
import { UsageError } from "../errors.ts";

const cryptoProvider = Stripe.createSubtleCryptoProvider();
const SECRET = /^whsec_[A-Za-z0-9_]+$/;

/** The Stripe-Signature header for `payload` (the exact text that will be sent). */
export function signatureHeader(payload: string, secret: string, timestamp: number): Promise<string> {
  checkSecret(secret);
  return Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp, cryptoProvider });
}

/** Refuses a secret Stripe would never issue; the message never repeats the secret. */
export function checkSecret(secret: string): void {
  if (!SECRET.test(secret)) {
    throw new UsageError(
      `the signing secret must start with whsec_ and contain only letters, digits and _ (the one given is ${secret.length} characters long and is not shown). Copy it from \`stripe listen --print-secret\` or the Dashboard`,
    );
  }
}
