/** when: every operator, all must hold, and an unmet condition skips the action without running it. */
import { describe, expect, test } from "bun:test";
import { compileWhen } from "../../src/actions/conditions.ts";
import { attemptOf, compile } from "../helpers/actions.ts";

const EVENT = {
  id: "evt_1",
  type: "customer.subscription.updated",
  livemode: true,
  account: "acct_123",
  data: {
    object: { amount: 2000, currency: "usd", metadata: { plan: "pro" }, customer: null },
    previous_attributes: { status: "trialing" },
  },
};

function holds(when: Record<string, unknown>): boolean {
  const compiled = compileWhen(when as never);
  if ("problems" in compiled) throw new Error(JSON.stringify(compiled.problems));
  return compiled.condition(attemptOf(JSON.stringify(EVENT)).event) === null;
}

describe("when", () => {
  test.each([
    [{ livemode: true }, true],
    [{ livemode: false }, false],
    [{ account: { prefix: "acct_" } }, true],
    [{ account: { prefix: "acct_9" } }, false],
    [{ "data.object.currency": "usd" }, true],
    [{ "data.object.currency": { one_of: ["eur", "gbp"] } }, false],
    [{ "data.object.currency": { one_of: ["eur", "usd"] } }, true],
    [{ "data.object.amount": { gte: 2000 } }, true],
    [{ "data.object.amount": { gt: 2000 } }, false],
    [{ "data.object.amount": { lt: 5000, gt: 100 } }, true],
    [{ "data.object.amount": { lte: 1999 } }, false],
    [{ "data.object.currency": { gt: 1 } }, false],
    [{ "data.object.metadata.plan": { exists: true } }, true],
    [{ "data.object.metadata.seats": { exists: true } }, false],
    [{ "data.object.metadata.seats": { exists: false } }, true],
    [{ "data.object.customer": { exists: false } }, true],
    [{ "data.object.customer": null }, true],
    [{ "data.object.amount": "2000" }, false],
    [{ "data.previous_attributes.status": "trialing" }, true],
    [{ livemode: true, "data.object.currency": "usd", "data.object.amount": { gte: 5000 } }, false],
  ])("%j holds: %p", (when, expected) => {
    expect(holds(when)).toBe(expected);
  });

  test("fields outside the event's own data, and impossible ranges, are config problems", () => {
    const problems = compileWhen({ type: "x", "data.object.a": { gt: 5, lt: 1 } } as never);
    expect(JSON.stringify(problems)).toContain("not a field payhook can test");
    expect(JSON.stringify(problems)).toContain("can never both hold");
  });

  test("an unmet condition skips the action: done, with the reason, and the action does not run", async () => {
    const lines: string[] = [];
    const run = compile({ log: "ran {{id}}", when: { "data.object.amount": { gte: 5000 } } });
    const context = { ...attemptOf(JSON.stringify(EVENT)), print: (l: string) => void lines.push(l) };
    const outcome = await run(context);
    expect(outcome).toEqual({
      ok: true,
      output: "skipped: when data.object.amount gte 5000 does not hold (it is 2000)",
    });
    expect(lines).toEqual([]);
    const met = compile({ log: "ran {{id}}", when: { "data.object.amount": { gte: 100 } } });
    await met(context);
    expect(lines).toEqual(["ran evt_1"]);
  });
});
