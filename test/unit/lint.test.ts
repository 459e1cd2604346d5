/** The config linter and the generated catalog of Stripe event types it checks against. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import pkg from "../../node_modules/stripe/package.json" with { type: "json" };
import { generate } from "../../scripts/gen-event-types.ts";
import { SNAPSHOT_EVENT_TYPES, STRIPE_VERSION, THIN_EVENT_TYPES } from "../../src/catalog/event-types.ts";
import { distance, formatFindings, lintConfig, nearest } from "../../src/catalog/lint.ts";
import { parseConfig } from "../../src/config/load.ts";

const lint = (patterns: string[], unhandled = 0) =>
  lintConfig({ routes: patterns.map((pattern) => ({ pattern, actions: [] })), unhandled: new Array(unhandled) });

describe("catalog", () => {
  test("is generated from the installed stripe package and is up to date", () => {
    expect(STRIPE_VERSION).toBe(pkg.version);
    const committed = readFileSync(resolve(import.meta.dir, "../../src/catalog/event-types.ts"), "utf8");
    expect(generate()).toBe(committed);
  });

  test("holds snapshot and thin event types", () => {
    expect(SNAPSHOT_EVENT_TYPES).toContain("payment_intent.succeeded");
    expect(SNAPSHOT_EVENT_TYPES).toContain("checkout.session.completed");
    expect(THIN_EVENT_TYPES).toContain("v1.billing.meter.error_report_triggered");
    expect(SNAPSHOT_EVENT_TYPES.length).toBeGreaterThan(200);
  });
});

describe("lintConfig", () => {
  test("real types, real prefixes and * pass", () => {
    expect(lint(["payment_intent.succeeded", "invoice.*", "charge.dispute.*", "v1.billing.meter.*", "*"])).toEqual([]);
  });

  test.each([
    ["payment_intent.succeded", 'did you mean "payment_intent.succeeded"?'],
    ["invoice.payed", 'did you mean "invoice.paid"?'],
    ["customer.subscription.create", 'did you mean "customer.subscription.created"?'],
    ["checkout.session.complete", 'did you mean "checkout.session.completed"?'],
  ])("%s is flagged with a suggestion", (pattern, suggestion) => {
    const [finding] = lint([pattern]);
    expect(finding?.at).toBe(`handlers.${JSON.stringify(pattern)}`);
    expect(finding?.message).toContain(`"${pattern}" is not a Stripe event type, so this pattern never matches`);
    expect(finding?.message).toContain(suggestion);
  });

  test("a prefix that starts no type is flagged with the nearest prefix", () => {
    const [finding] = lint(["invoices.*"]);
    expect(finding?.message).toBe(
      'no Stripe event type starts with "invoices.", so this pattern never matches; did you mean "invoice.*"?',
    );
  });

  test("nothing close enough: no suggestion", () => {
    const [finding] = lint(["zzzz.qqqq"]);
    expect(finding?.message).toBe('"zzzz.qqqq" is not a Stripe event type, so this pattern never matches');
  });

  test("* makes unhandled unreachable, and says so only when unhandled has actions", () => {
    expect(lint(["*"], 1)).toEqual([
      {
        path: ["unhandled"],
        at: "unhandled",
        message: 'never runs: the "*" handler matches every event, so no event is left unhandled',
      },
    ]);
    expect(lint(["*"], 0)).toEqual([]);
    expect(lint(["invoice.*"], 1)).toEqual([]);
  });

  test("findings name the file, the path and the line of the key", () => {
    const text = `endpoints:
  - path: /webhook
    secrets: ["whsec_x"]
handlers:
  "*":
    - log: all
  payment_intent.succeded:
    - log: typo
unhandled:
  - log: never
`;
    const config = parseConfig(text, { source: "p.yaml", env: {} });
    expect(formatFindings(lintConfig(config), "p.yaml", text)).toEqual([
      'p.yaml: warning: handlers."payment_intent.succeded": "payment_intent.succeded" is not a Stripe event type, so this pattern never matches; did you mean "payment_intent.succeeded"? (line 7)',
      'p.yaml: warning: unhandled: never runs: the "*" handler matches every event, so no event is left unhandled (line 9)',
    ]);
  });
});

describe("edit distance", () => {
  test.each([
    ["", "", 0],
    ["abc", "abc", 0],
    ["abc", "acb", 1],
    ["succeded", "succeeded", 1],
    ["kitten", "sitting", 3],
  ])("%s → %s is %d", (a, b, d) => expect(distance(a, b)).toBe(d));

  test("nearest picks the closest candidate within its limit", () => {
    expect(nearest("paid", ["payed", "paid"])).toBe("paid");
    expect(nearest("invoice.pai", ["invoice.paid", "invoice.sent"])).toBe("invoice.paid");
    expect(nearest("abc", ["xyz"])).toBeUndefined();
  });
});
