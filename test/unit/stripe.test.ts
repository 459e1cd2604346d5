/** payhook's Stripe API use: backoff, key redaction, the map against an endpoint, and what the client accepts. */
import { describe, expect, test } from "bun:test";
import { SNAPSHOT_EVENT_TYPES } from "../../src/catalog/event-types.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Store } from "../../src/store/types.ts";
import {
  backoff,
  createStripeApi,
  redactKeys,
  type StripeApi,
  type StripeApiError,
  type StripeApiOptions,
  type WebhookEndpoint,
} from "../../src/stripe/api.ts";
import { CatchUpError, catchUp } from "../../src/stripe/catchup.ts";
import { compareEndpoint, eventsDiff, payhookEndpoints, wantedTypes } from "../../src/stripe/endpoints.ts";
import { type FakeStripeApi, startFakeStripeApi } from "../helpers/fake-stripe-api.ts";

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

describe("what the client takes from the API", () => {
  const KEY = "sk_test_transport";
  const apiFor = (fake: FakeStripeApi, extra: Partial<StripeApiOptions> = {}) =>
    createStripeApi({
      settings: { apiKey: KEY, apiBase: fake.apiBase, maxRate: 100 },
      fetch: (url, init) => fetch(url, init),
      retries: 3,
      sleep: async () => {},
      ...extra,
    });
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error("expected the call to fail");
      },
      (error: unknown) => error as StripeApiError,
    );

  test("a redirect is refused, not followed, and not retried", async () => {
    const fake = startFakeStripeApi(KEY);
    const elsewhere = startFakeStripeApi(KEY);
    try {
      fake.inject({ path: "/v1/events", redirect: `${elsewhere.apiBase}/v1/events`, times: 5 });
      const error = await failure(apiFor(fake).listEvents({ limit: 1 }));
      expect(error.code).toBe("stripe_redirect");
      expect(error.message).toContain("does not follow");
      expect(fake.calls("/v1/events")).toHaveLength(1);
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      fake.stop();
      elsewhere.stop();
    }
  });

  test("an answer past the size cap is refused, whether its length is declared or streamed", async () => {
    const fake = startFakeStripeApi(KEY);
    const chunked = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(new TextEncoder().encode(`{"data":[],"pad":"${"x".repeat(4096)}`));
            },
          }),
          { headers: { "content-type": "application/json" } },
        ),
    });
    try {
      fake.inject({ path: "/v1/events", garbage: "x".repeat(5000), times: 1 });
      const declared = await failure(apiFor(fake, { maxAnswerBytes: 1000 }).listEvents({ limit: 1 }));
      expect(declared.code).toBe("stripe_answer_too_large");
      const streamed = await failure(
        createStripeApi({
          settings: { apiKey: KEY, apiBase: `http://127.0.0.1:${chunked.port}`, maxRate: 100 },
          fetch: (url, init) => fetch(url, init),
          retries: 3,
          maxAnswerBytes: 100_000,
        }).listEvents({ limit: 1 }),
      );
      expect(streamed.code).toBe("stripe_answer_too_large");
      // Under the cap, answers pass as before.
      fake.addEvent({ type: "invoice.paid" });
      expect((await apiFor(fake, { maxAnswerBytes: 100_000 }).listEvents({ limit: 1 })).data).toHaveLength(1);
    } finally {
      fake.stop();
      chunked.stop(true);
    }
  });

  test("stopping cancels a call to an API that never answers, and its retries", async () => {
    const fake = startFakeStripeApi(KEY);
    try {
      fake.inject({ path: "/v1/events", hang: true, times: 10 });
      const stop = new AbortController();
      const call = failure(
        createStripeApi({
          settings: { apiKey: KEY, apiBase: fake.apiBase, maxRate: 100 },
          fetch: (url, init) => fetch(url, init),
          retries: 5,
          signal: stop.signal,
        }).listEvents({ limit: 1 }),
      );
      while (fake.calls("/v1/events").length === 0) await Bun.sleep(5);
      stop.abort(new Error("stopping"));
      const error = await call;
      expect(error.code).toBe("stripe_cancelled");
      expect(fake.calls("/v1/events")).toHaveLength(1);
    } finally {
      fake.stop();
    }
  });

  test("catch-up reads at most maxPages pages and says so", async () => {
    let n = 0;
    // An API that always has more: every page new ids, has_more forever.
    const endless = {
      listEvents: async (params: Record<string, unknown>) => {
        if (params.created && typeof params.created === "object" && "lt" in params.created) {
          return { data: [], has_more: false };
        }
        return {
          data: Array.from({ length: 2 }, () => ({
            id: `evt_${++n}`,
            object: "event",
            type: "invoice.paid",
            created: 1_700_000_000,
            data: { object: {} },
          })),
          has_more: true,
        };
      },
    } as unknown as StripeApi;
    const c = config("  invoice.paid: [{ log: x }]\n");
    const run = catchUp({
      api: endless,
      store: { getEvent: async () => null } as unknown as Store,
      routes: c.routes,
      router: c.router,
      unhandled: c.unhandled,
      from: 1_600_000_000,
      to: 1_800_000_000,
      dryRun: true,
      maxPages: 7,
    });
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CatchUpError);
    expect((error as CatchUpError).summary.error).toContain("catch-up read 7 pages of events, the most one run reads");
    // Seven calls: the look for an event before the window, then six pages of two.
    expect(n).toBe(12);
  });
});
