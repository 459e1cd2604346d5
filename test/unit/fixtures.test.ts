/** The trigger fixtures: every `stripe trigger` name, realistic and cross-referenced events, in the CLI's order. */
import { describe, expect, test } from "bun:test";
import Stripe from "stripe";
import { buildEvents, parseOverride, TRIGGER_NAMES } from "../../src/fixtures/index.ts";

/** `stripe trigger --help` of Stripe CLI 1.52.0: 121 fixtures and 2 aliases. */
const STRIPE_TRIGGER_NAMES = `account.application.deauthorized account.updated balance.available
billing_portal.configuration.created billing_portal.configuration.updated billing_portal.session.created
cash_balance.funds_available charge.captured charge.dispute.closed charge.dispute.created charge.dispute.updated
charge.failed charge.refund.updated charge.refunded charge.succeeded checkout.session.async_payment_failed
checkout.session.async_payment_succeeded checkout.session.completed checkout.session.expired coupon.created
coupon.deleted coupon.updated credit_note.created credit_note.updated credit_note.voided customer.created
customer.deleted customer.discount.created customer.discount.deleted customer.discount.updated
customer.source.created customer.source.updated customer.subscription.created customer.subscription.deleted
customer.subscription.paused customer.subscription.trial_will_end customer.subscription.updated customer.updated
customer_cash_balance_transaction.created identity.verification_session.canceled
identity.verification_session.created identity.verification_session.redacted invoice.created invoice.deleted
invoice.finalized invoice.marked_uncollectible invoice.paid invoice.payment_action_required invoice.payment_failed
invoice.payment_succeeded invoice.sent invoice.updated invoice.voided invoiceitem.created invoiceitem.deleted
issuing_authorization.request issuing_authorization.request.eu issuing_authorization.request.gb
issuing_card.created issuing_card.created.eu issuing_card.created.gb issuing_cardholder.created
issuing_cardholder.created.eu issuing_cardholder.created.gb issuing_transaction.created
issuing_transaction.purchase_details_receipt_updated issuing_transaction.updated
payment_intent.amount_capturable_updated payment_intent.canceled payment_intent.created
payment_intent.partially_funded payment_intent.payment_failed payment_intent.processing
payment_intent.requires_action payment_intent.succeeded payment_link.created payment_link.updated
payment_method.attached payment_method.detached payment_method.updated payout.created payout.updated plan.created
plan.deleted plan.updated price.created price.updated product.created product.deleted product.updated
promotion_code.created promotion_code.updated quote.accepted quote.canceled quote.created quote.finalized
reporting.report_run.succeeded setup_intent.canceled setup_intent.created setup_intent.requires_action
setup_intent.setup_failed setup_intent.succeeded subscription.payment_failed subscription.payment_succeeded
subscription_schedule.aborted subscription_schedule.canceled subscription_schedule.completed
subscription_schedule.created subscription_schedule.expiring subscription_schedule.released
subscription_schedule.updated tax_rate.created tax_rate.updated test_helpers.test_clock.advancing
test_helpers.test_clock.created test_helpers.test_clock.deleted test_helpers.test_clock.ready topup.created
transfer.created transfer.reversed transfer.updated v1.billing.meter.error_report_triggered
v1.billing.meter.no_meter_found`.split(/\s+/);

/** The event type a trigger name is about (the CLI's names are event types, but for a few). */
function primaryType(name: string): string {
  if (name === "subscription.payment_failed") return "invoice.payment_failed";
  if (name === "subscription.payment_succeeded") return "invoice.payment_succeeded";
  return name.replace(/\.(eu|gb)$/, "");
}

type Snapshot = {
  id: string;
  object: string;
  type: string;
  api_version: string;
  created: number;
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  account?: string;
  data: { object: Record<string, unknown> & { id?: string; object: string } };
};

const parse = (name: string, options = {}) => buildEvents(name, options).map((e) => JSON.parse(e.body) as Snapshot);

describe("trigger fixtures", () => {
  test("support exactly the 123 names `stripe trigger` supports", () => {
    expect(STRIPE_TRIGGER_NAMES).toHaveLength(123);
    expect([...TRIGGER_NAMES]).toEqual([...STRIPE_TRIGGER_NAMES].sort());
  });

  test.each(TRIGGER_NAMES.map((n) => [n]))("%s: well-formed events, the named one included", (name) => {
    const built = buildEvents(name, { now: 1_760_000_000 });
    expect(built.length).toBeGreaterThan(0);
    expect(built.map((e) => e.type)).toContain(primaryType(name));
    expect(new Set(built.map((e) => e.id)).size).toBe(built.length);
    for (const { id, type, body } of built) {
      expect(body).toStartWith("{\n  ");
      const event = JSON.parse(body) as Snapshot & { related_object?: unknown };
      expect(event.id).toBe(id);
      expect(event.type).toBe(type);
      expect(event.livemode).toBe(false);
      if (event.object === "v2.core.event") {
        expect(id).toMatch(/^evt_test_[A-Za-z0-9]{24}$/);
        continue;
      }
      expect(event.object).toBe("event");
      expect(id).toMatch(/^evt_[A-Za-z0-9]{24}$/);
      expect(event.api_version).toBe(Stripe.API_VERSION);
      expect(event.created).toBe(1_760_000_000);
      expect(event.pending_webhooks).toBe(1);
      expect(event.request).toHaveProperty("idempotency_key");
      expect(typeof event.data.object.object).toBe("string");
      if (event.data.object.livemode !== undefined) expect(event.data.object.livemode).toBe(false);
    }
  });

  test("payment_intent.succeeded sends created, charge.succeeded, succeeded, cross-referenced like Stripe's", () => {
    const events = parse("payment_intent.succeeded");
    expect(events.map((e) => e.type)).toEqual([
      "payment_intent.created",
      "charge.succeeded",
      "payment_intent.succeeded",
    ]);
    const [created, charge, succeeded] = events.map((e) => e.data.object);
    expect(created?.id).toMatch(/^pi_[A-Za-z0-9]{24}$/);
    expect(succeeded?.id).toBe(created?.id as string);
    expect(charge?.id).toMatch(/^ch_[A-Za-z0-9]{24}$/);
    expect(charge?.payment_intent).toBe(created?.id);
    expect(succeeded?.latest_charge).toBe(charge?.id);
    expect(succeeded).toMatchObject({ amount: 2000, amount_received: 2000, currency: "usd", status: "succeeded" });
    expect(charge?.payment_method).toBe(succeeded?.payment_method);
    expect(charge).toMatchObject({ paid: true, captured: true, status: "succeeded" });
    // The three events come from one API request, so they share its request id.
    expect(new Set(events.map((e) => e.request.id)).size).toBe(1);
    expect(events[0]?.request.id).toMatch(/^req_/);
  });

  test("invoice.paid pays through a PaymentIntent for the customer, then invoice.paid and payment_succeeded", () => {
    const events = parse("invoice.paid");
    expect(events.map((e) => e.type)).toEqual([
      "customer.created",
      "payment_method.attached",
      "invoiceitem.created",
      "invoice.created",
      "invoice.finalized",
      "payment_intent.created",
      "charge.succeeded",
      "payment_intent.succeeded",
      "invoice.paid",
      "invoice.payment_succeeded",
    ]);
    const customer = events[0]?.data.object.id;
    expect(customer).toMatch(/^cus_[A-Za-z0-9]{14}$/);
    for (const event of events.slice(1)) {
      const object = event.data.object;
      if ("customer" in object) expect(object.customer).toBe(customer as string);
    }
    const paid = events.find((e) => e.type === "invoice.paid")?.data.object;
    expect(paid).toMatchObject({ status: "paid", amount_paid: 2000, amount_remaining: 0 });
  });

  test("account events are Connect events; --account makes every event one", () => {
    const [updated] = parse("account.updated");
    expect(updated?.account).toBe(updated?.data.object.id as string);
    const events = parse("charge.succeeded", { account: "acct_1TestConnected" });
    expect(events.every((e) => e.account === "acct_1TestConnected")).toBe(true);
  });

  test("--thin sends v1.<type> notifications that reference the object and the snapshot event", () => {
    const events = buildEvents("payment_intent.succeeded", { thin: true, account: "acct_1TestConnected" });
    const last = JSON.parse(events.at(-1)?.body ?? "{}");
    expect(last).toMatchObject({
      object: "v2.core.event",
      type: "v1.payment_intent.succeeded",
      livemode: false,
      context: "acct_1TestConnected",
      related_object: { type: "payment_intent" },
    });
    expect(last.related_object.url).toBe(`/v1/payment_intents/${last.related_object.id}`);
    expect(last.snapshot_event).toMatch(/^evt_/);
    expect(Number.isNaN(Date.parse(last.created))).toBe(false);
  });

  test("overrides set a path in the named event, or in every event of a type; --data deep-merges", () => {
    const events = parse("payment_intent.succeeded", {
      overrides: [
        parseOverride("data.object.amount=5000"),
        parseOverride("charge.succeeded:data.object.metadata.order=A-1"),
        parseOverride('data.object.description="42"'),
      ],
      data: { data: { object: { metadata: { source: "test" } } } },
    });
    const [created, charge, succeeded] = events.map((e) => e.data.object);
    expect(succeeded?.amount).toBe(5000);
    expect(succeeded?.description).toBe("42");
    expect(succeeded?.metadata).toEqual({ source: "test" });
    expect(created?.amount).toBe(2000);
    expect(charge?.metadata).toEqual({ order: "A-1" });
  });

  test.each([["amount"], ["=5"], ["a..b=1"], ["__proto__.x=1"]])(
    "rejects the override %p with a usage hint",
    (text) => {
      expect(() => parseOverride(text)).toThrow(/path/);
    },
  );

  test("an override for an event type the trigger does not send names the ones it does", () => {
    expect(() =>
      buildEvents("customer.created", { overrides: [parseOverride("invoice.paid:data.object.x=1")] }),
    ).toThrow(/customer.created sends no invoice.paid event \(it sends customer.created\)/);
  });

  test("an unknown name suggests the names of the same resource", () => {
    expect(() => buildEvents("payment_intent.succeded")).toThrow(/Did you mean one of: .*payment_intent.succeeded/);
  });
});
