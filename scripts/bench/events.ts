/**
 * @module Realistic signed `payment_intent.succeeded` events for the benchmark, written to a file the wrk script
 * rotates through. Each event has its own ids and is signed by the stripe package itself at generation time, so
 * the timestamps are fresh for the run that follows. Signing is Stripe's scheme (HMAC-SHA256 of "<t>.<body>",
 * hex, as `t=<t>,v1=<hex>`) with node:crypto, because a run can need hundreds of thousands of events and the
 * stripe package's WebCrypto signer imports the key for each one; payhook verifies them with the stripe package,
 * so a signing mistake here would show up as 400s.
 */
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";

export interface GeneratedEvent {
  id: string;
  body: string;
  header: string;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * `count` distinct events signed with `secret`, timestamped now. With `customers`, they share that many customer
 * ids in turn (`cus_bench0`, `cus_bench1`, …), for ordering by customer; otherwise each has its own.
 */
export function generateEvents(count: number, secret: string, customers?: number): GeneratedEvent[] {
  const timestamp = Math.floor(Date.now() / 1000);
  const events: GeneratedEvent[] = [];
  for (let i = 0; i < count; i++) {
    const customer = customers === undefined ? `cus_${random(14)}` : `cus_bench${i % customers}`;
    const { id, body } = paymentIntentSucceeded(timestamp, customer);
    const signature = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
    events.push({ id, body, header: `t=${timestamp},v1=${signature}` });
  }
  return events;
}

/**
 * Writes events as `<Stripe-Signature>\n<byte length>\n<body>\n` records, the format rotate.lua reads: a length
 * prefix, because Stripe's bodies are pretty-printed and contain newlines.
 */
export function writeEventsFile(path: string, events: readonly GeneratedEvent[]): void {
  const parts: string[] = [];
  for (const e of events) parts.push(`${e.header}\n${Buffer.byteLength(e.body)}\n${e.body}\n`);
  writeFileSync(path, parts.join(""));
}

/** An event shaped like the ones Stripe delivers (API 2025-09-30.clover), pretty-printed as Stripe sends them. */
function paymentIntentSucceeded(created: number, customer: string): { id: string; body: string } {
  const id = `evt_3${random(23)}`;
  const pi = `pi_3${random(23)}`;
  const amount = 500 + Math.floor(Math.random() * 99_500);
  const body = JSON.stringify(
    {
      id,
      object: "event",
      api_version: "2025-09-30.clover",
      created,
      data: {
        object: {
          id: pi,
          object: "payment_intent",
          amount,
          amount_capturable: 0,
          amount_details: { tip: {} },
          amount_received: amount,
          application: null,
          application_fee_amount: null,
          automatic_payment_methods: { allow_redirects: "always", enabled: true },
          canceled_at: null,
          cancellation_reason: null,
          capture_method: "automatic_async",
          client_secret: `${pi}_secret_${random(25)}`,
          confirmation_method: "automatic",
          created: created - 2,
          currency: "usd",
          customer,
          description: `Order #${100_000 + Math.floor(Math.random() * 900_000)}`,
          excluded_payment_method_types: null,
          last_payment_error: null,
          latest_charge: `ch_3${random(23)}`,
          livemode: false,
          metadata: { order_id: random(12), source: "checkout" },
          next_action: null,
          on_behalf_of: null,
          payment_method: `pm_1${random(23)}`,
          payment_method_configuration_details: { id: `pmc_1${random(23)}`, parent: null },
          payment_method_options: {
            card: { installments: null, mandate_options: null, network: null, request_three_d_secure: "automatic" },
            link: { persistent_token: null },
          },
          payment_method_types: ["card", "link"],
          processing: null,
          receipt_email: "jenny.rosen@example.com",
          review: null,
          setup_future_usage: null,
          shipping: null,
          source: null,
          statement_descriptor: null,
          statement_descriptor_suffix: null,
          status: "succeeded",
          transfer_data: null,
          transfer_group: null,
        },
      },
      livemode: false,
      pending_webhooks: 1,
      request: { id: `req_${random(14)}`, idempotency_key: randomUUID() },
      type: "payment_intent.succeeded",
    },
    null,
    2,
  );
  return { id, body };
}

// Random ids draw from one pool refilled 64 KiB at a time: a syscall per id would dominate generation.
let pool = randomBytes(65_536);
let used = 0;

function random(length: number): string {
  if (used + length > pool.length) {
    pool = randomBytes(65_536);
    used = 0;
  }
  let out = "";
  for (let i = 0; i < length; i++) out += BASE62[(pool[used + i] as number) % 62];
  used += length;
  return out;
}
