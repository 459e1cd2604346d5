/** The pure parts of payhook's Stripe API use: backoff, key redaction, the map against an endpoint. */
import { describe, expect, test } from "bun:test";
import { SNAPSHOT_EVENT_TYPES } from "../../src/catalog/event-types.ts";
import { parseConfig } from "../../src/config/load.ts";
import { backoff, redactKeys, type WebhookEndpoint } from "../../src/stripe/api.ts";
import { compareEndpoint, eventsDiff, payhookEndpoints, wantedTypes } from "../../src/stripe/endpoints.ts";

const config = (handlers: string, unhandled = "") =>
  parseConfig(
    `endpoints: [{ path: /webhook, secrets: ["whsec_x"] }]\nhandlers:\n${handlers}${unhandled ? `unhandled:\n${unhandled}` : ""}`,
    { source: "t.yaml", env: {} },
  );

const endpoint = (fields: Partial<WebhookEndpoint>): WebhookEndpoint => ({
  id: "we_1",
  url: "https://h/webhook",
  enabled_events: [],
  status: "enabled",
  api_version: "v",
  description: null,
  livemode: false,
  ...fields,
});

describe("backoff", () => {
  test.each([
    [0, 125, 250],
    [1, 250, 500],
    [3, 1000, 2000],
    [10, 4000, 8000],
  ])("attempt %i waits between %i and %i ms", (attempt, low, high) => {
    expect(backoff(attempt, () => 0)).toBe(low);
    expect(backoff(attempt, () => 1)).toBe(high);
  });
});

test.each([
  ["Invalid API Key provided: sk_test_abc123", "Invalid API Key provided: (key not shown)"],
  ["The provided key 'rk_live_****wxyz' does not have", "The provided key '(key not shown)' does not have"],
  ["no key here", "no key here"],
])("redactKeys(%j)", (text, expected) => {
  expect(redactKeys(text)).toBe(expected);
});

describe("the handler map against an endpoint", () => {
  test("wanted types: exact, prefixes expanded through the catalog, thin apart, everything with * or unhandled", () => {
    const wanted = wantedTypes(
      config(
        '  invoice.paid: [{ log: x }]\n  "charge.dispute.*": [{ log: x }]\n  v1.billing.meter.no_meter_found: [{ log: x }]\n',
      ),
    );
    expect(wanted.everything).toBe(false);
    expect(wanted.types).toEqual(
      ["invoice.paid", ...SNAPSHOT_EVENT_TYPES.filter((t) => t.startsWith("charge.dispute."))].sort(),
    );
    expect(wanted.thin).toEqual(["v1.billing.meter.no_meter_found"]);
    expect(wantedTypes(config("  invoice.paid: [{ log: x }]\n", "  - log: x\n")).everything).toBe(true);
    expect(wantedTypes(config('  "*": [{ log: x }]\n')).everything).toBe(true);
  });

  test("endpoints are matched by the end of their URL's path, or by id", () => {
    const all = [
      endpoint({ id: "we_a", url: "https://h/prefix/webhook" }),
      endpoint({ id: "we_b", url: "https://h/other" }),
    ];
    const c = config("  invoice.paid: [{ log: x }]\n");
    expect(payhookEndpoints(all, c).map((e) => e.id)).toEqual(["we_a"]);
    expect(payhookEndpoints(all, c, "we_b").map((e) => e.id)).toEqual(["we_b"]);
  });

  test("an endpoint that matches the map has no mismatch; each disagreement is one kind", () => {
    const c = config('  invoice.paid: [{ log: x }]\n  "customer.*": [{ log: x }]\n');
    expect(compareEndpoint(endpoint({ enabled_events: ["invoice.paid", "customer.created"] }), c, "v")).toEqual([]);
    const kinds = compareEndpoint(
      endpoint({ enabled_events: ["charge.refunded"], status: "disabled", api_version: null }),
      c,
      "v",
    ).map((m) => m.kind);
    expect(kinds).toEqual(["unhandled_types", "never_sent", "disabled", "api_version"]);
    // With ["*"], no handler is "never sent", but every type without a handler is reported.
    const all = compareEndpoint(endpoint({ enabled_events: ["*"] }), c, "v");
    expect(all.map((m) => m.kind)).toEqual(["unhandled_types"]);
  });

  test("eventsDiff", () => {
    expect(eventsDiff(["a", "b"], ["b", "c"])).toEqual({ add: ["c"], remove: ["a"] });
  });
});
