/** Routing, templates and the retry schedule: small pure functions, tested by table. */
import { describe, expect, test } from "bun:test";
import { nextAttemptAt } from "../../src/actions/retry.ts";
import type { Action } from "../../src/actions/types.ts";
import { compileRouter, matches } from "../../src/config/routes.ts";
import { compileTemplate } from "../../src/utils/template.ts";

const action = (name: string) => ({ name }) as Action;

describe("patterns", () => {
  test.each([
    ["payment_intent.succeeded", "payment_intent.succeeded", true],
    ["payment_intent.succeeded", "payment_intent.succeeded2", false],
    ["invoice.*", "invoice.paid", true],
    ["invoice.*", "invoice.payment_failed", true],
    ["invoice.*", "invoiceitem.created", false],
    ["invoice.*", "invoice", false],
    ["charge.dispute.*", "charge.dispute.created", true],
    ["charge.dispute.*", "charge.succeeded", false],
    ["*", "anything.at.all", true],
  ])("%s matches %s: %p", (pattern, type, expected) => {
    expect(matches(pattern, type)).toBe(expected);
  });

  test("every matching pattern's actions run in config order; unhandled only when none matched", () => {
    const route = compileRouter(
      [
        { pattern: "charge.*", actions: [action("a")] },
        { pattern: "charge.succeeded", actions: [action("b"), action("c")] },
        { pattern: "invoice.paid", actions: [] },
      ],
      [action("fallback")],
    );
    expect(route("charge.succeeded").map((a) => a.name)).toEqual(["a", "b", "c"]);
    expect(route("charge.refunded").map((a) => a.name)).toEqual(["a"]);
    expect(route("customer.created").map((a) => a.name)).toEqual(["fallback"]);
    // A pattern that matched with no actions still counts as handled.
    expect(route("invoice.paid")).toEqual([]);
  });
});

describe("templates", () => {
  const event = {
    type: "payment_intent.succeeded",
    data: { object: { id: "pi_1", amount: 2000, metadata: { note: "a" }, nothing: null } },
  };
  test.each([
    ["PaymentIntent {{data.object.id}} was successful!", "PaymentIntent pi_1 was successful!"],
    ["{{ type }}", "payment_intent.succeeded"],
    ["{{data.object.amount}}", "2000"],
    ["{{data.object.metadata}}", '{"note":"a"}'],
    ["[{{data.object.missing}}][{{data.object.nothing}}]", "[][]"],
    ["{{__proto__}}{{constructor}}{{data.constructor.name}}{{data.object.toString}}", ""],
    ["no placeholders", "no placeholders"],
  ])("%s → %s", (text, expected) => {
    const template = compileTemplate(text);
    if (typeof template === "string") throw new Error(template);
    expect(template(event)).toBe(expected);
  });

  test("a placeholder that is not a dotted path is refused at load", () => {
    expect(compileTemplate("{{ data[0] }}")).toContain("is not a path");
    expect(compileTemplate("{{a b}}")).toContain("is not a path");
  });

  test("an event's own __proto__ key is data, not a prototype", () => {
    const parsed = JSON.parse('{"data":{"__proto__":{"polluted":"yes"}}}');
    const template = compileTemplate("{{data.__proto__.polluted}}");
    if (typeof template === "string") throw new Error(template);
    expect(template(parsed)).toBe("yes");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("retry schedule", () => {
  const policy = { attempts: 4, schedule: [1000, 60_000], jitter: 0.2 };
  test("delays follow the schedule, the last entry repeats, and the cap ends it", () => {
    const mid = () => 0.5; // no jitter at the midpoint
    expect(nextAttemptAt(policy, 1, 0, 0, mid)).toBe(1000);
    expect(nextAttemptAt(policy, 2, 0, 0, mid)).toBe(60_000);
    expect(nextAttemptAt(policy, 3, 0, 0, mid)).toBe(60_000);
    expect(nextAttemptAt(policy, 4, 0, 0, mid)).toBeNull();
  });

  test("jitter stays within ±jitter of the delay", () => {
    expect(nextAttemptAt(policy, 1, 0, 0, () => 0)).toBe(800);
    expect(nextAttemptAt(policy, 1, 0, 0, () => 0.999_999)).toBe(1200);
  });

  test("a Retry-After is a lower bound", () => {
    expect(nextAttemptAt(policy, 1, 0, 30_000, () => 0.5)).toBe(30_000);
    expect(nextAttemptAt(policy, 2, 0, 30_000, () => 0.5)).toBe(60_000);
  });
});
