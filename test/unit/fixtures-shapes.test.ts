/**
 * Every event `payhook trigger` sends is complete at the pinned API version: each object, down through its
 * nested and expanded objects, has every property the `stripe` package's type requires, nothing it does not
 * declare, and values of the declared kinds (src/catalog/object-types.ts, generated from the package).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { generate } from "../../scripts/gen-object-types.ts";
import { buildEvents, TRIGGER_NAMES } from "../../src/fixtures/index.ts";
import { checkEvent } from "../helpers/stripe-shapes.ts";

// biome-ignore lint/suspicious/noExplicitAny: the tests below reach into parsed JSON to break it on purpose.
type Body = Record<string, any>;

const bodies = (name: string, thin = false) =>
  buildEvents(name, { now: 1_760_000_000, thin }).map((e) => JSON.parse(e.body) as Body);
const one = (name: string, type = name) => bodies(name).find((e) => e.type === type) as Body;

describe("trigger payloads at the pinned API version", () => {
  test.each(TRIGGER_NAMES.map((n) => [n]))("%s: every object complete, nothing undeclared", (name) => {
    const problems = bodies(name).flatMap(checkEvent);
    expect(problems).toEqual([]);
  });

  const thin = TRIGGER_NAMES.filter(
    (n) => !["customer.source.created", "customer.source.updated", "reporting.report_run.succeeded"].includes(n),
  );
  test.each(thin.map((n) => [n]))("%s --thin: every notification as Stripe declares it", (name) => {
    expect(bodies(name, true).flatMap(checkEvent)).toEqual([]);
  });

  test("a trigger whose event Stripe never sends thin refuses --thin, naming why", () => {
    expect(() => bodies("customer.source.created", true)).toThrow(
      "customer.source.created has no thin form: Stripe sends customer.source.created as a snapshot event only",
    );
  });

  test("the check finds a missing required property, an undeclared one and a wrong kind, nested too", () => {
    const paid = one("invoice.paid");
    const invoice = paid.data.object;
    delete invoice.status_transitions;
    invoice.automatic_tax.bogus = 1;
    invoice.amount_due = "2000";
    delete invoice.lines.has_more;
    expect(checkEvent(paid).sort()).toEqual([
      'invoice.paid.data.object.amount_due: "2000", expected number',
      "invoice.paid.data.object.automatic_tax.bogus: not declared by Invoice.AutomaticTax",
      "invoice.paid.data.object.lines.has_more: missing (ApiList<InvoiceLineItem> requires it)",
      "invoice.paid.data.object.status_transitions: missing (Invoice requires it)",
    ]);
  });

  test("the check follows expanded objects by their `object`", () => {
    const created = one("issuing_card.created");
    delete created.data.object.cardholder.billing;
    expect(checkEvent(created)).toEqual([
      "issuing_card.created.data.object.cardholder.billing: missing (Issuing.Cardholder requires it)",
    ]);
  });
});

describe("object types catalog", () => {
  test(
    "is generated from the installed stripe package and is up to date",
    () => {
      for (const [path, text] of generate()) expect({ path, text }).toEqual({ path, text: readFileSync(path, "utf8") });
    },
    { timeout: 180_000 },
  );
});
