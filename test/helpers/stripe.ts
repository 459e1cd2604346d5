/** @module Stripe's side, for tests: realistic events, signed the way Stripe signs them. */
import Stripe from "stripe";

export const SECRET = "whsec_test_secret";
const cryptoProvider = Stripe.createSubtleCryptoProvider();
let counter = 0;

/** A snapshot event as Stripe sends it (pretty-printed, as Stripe's deliveries are). */
export function event(type = "payment_intent.succeeded", overrides: Record<string, unknown> = {}): string {
  counter += 1;
  const id = `evt_test_${Date.now().toString(36)}${counter.toString(36).padStart(4, "0")}`;
  return JSON.stringify(
    {
      id,
      object: "event",
      api_version: "2025-09-30.clover",
      created: Math.floor(Date.now() / 1000),
      data: {
        object: {
          id: `pi_test_${counter.toString(36).padStart(6, "0")}`,
          object: "payment_intent",
          amount: 2000,
          currency: "usd",
          customer: "cus_test_0001",
          status: "succeeded",
        },
      },
      livemode: false,
      pending_webhooks: 1,
      request: { id: `req_test_${counter}`, idempotency_key: null },
      type,
      ...overrides,
    },
    null,
    2,
  );
}

/** The Stripe-Signature header for `payload`, made by the stripe package itself. */
export function sign(
  payload: string | Uint8Array,
  options: { secret?: string; timestamp?: number } = {},
): Promise<string> {
  return Stripe.webhooks.generateTestHeaderStringAsync({
    payload: typeof payload === "string" ? payload : new TextDecoder().decode(payload),
    secret: options.secret ?? SECRET,
    timestamp: options.timestamp ?? Math.floor(Date.now() / 1000),
    cryptoProvider,
  });
}

/** POSTs a signed event to `url` and returns the response. */
export async function deliver(
  url: string,
  payload: string,
  options: { secret?: string; timestamp?: number; header?: string } = {},
): Promise<Response> {
  const header = options.header ?? (await sign(payload, options));
  return fetch(url, {
    method: "POST",
    body: payload,
    headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": header },
  });
}

export function idOf(payload: string): string {
  return (JSON.parse(payload) as { id: string }).id;
}
