/**
 * @module Stripe's own signing for what `forward` sends (`sign: { scheme: stripe, secret }`): a `Stripe-Signature:
 * t=<attempt's unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` header keyed with the whole `whsec_…` secret,
 * made by the same code as `payhook trigger` (../stripe/sign.ts). An app that verifies with
 * `stripe.webhooks.constructEvent` and its own secret accepts payhook's requests unchanged.
 */
import { UsageError } from "../errors.ts";
import type { Signer } from "./sign.ts";
import { checkSecret, signatureHeader } from "./stripe-signature.ts";

/** The header a Stripe signer adds. */
export const STRIPE_SIGNATURE_HEADERS = ["stripe-signature"] as const;

const text = new TextDecoder();

/** Why `secret` cannot sign like Stripe (never repeating it), or null when it can. */
export function stripeSecretProblem(secret: string): string | null {
  try {
    checkSecret(secret);
    return null;
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
}

/** A signer for a `whsec_…` secret checked by stripeSecretProblem. */
export function createStripeSigner(secret: string): Signer {
  // The stored bytes are UTF-8 (verified at the door, or JSON from Stripe's API), so the text Stripe's library
  // signs encodes back to exactly the bytes sent.
  return async (_id, timestamp, body) => ({
    "stripe-signature": await signatureHeader(text.decode(body), secret, timestamp),
  });
}
