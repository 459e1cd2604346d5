/**
 * @module The alert rules as pure functions, `stripe_endpoint` against the fake Stripe API's endpoints and event
 * destinations, the sliding signature count, the notifications' backoff, and the SQLite store's incident
 * bookkeeping: one notification per channel per change, however often a condition is seen.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SlidingCount } from "../../src/alerts/loop.ts";
import { backoff } from "../../src/alerts/notifier.ts";
import { evaluate, type Observed } from "../../src/alerts/rules.ts";
import { stripeDrift } from "../../src/alerts/stripe-watch.ts";
import { parseConfig } from "../../src/config/load.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { Condition } from "../../src/store/types.ts";
import { createStripeApi, STRIPE_API_VERSION } from "../../src/stripe/api.ts";
import { type FakeEventDestination, type FakeStripeApi, startFakeStripeApi } from "../helpers/fake-stripe-api.ts";
import { tempDir } from "../helpers/server.ts";

const seen = (over: Partial<Observed> = {}): Observed => ({
  now: 10 * 3_600_000,
  facts: { dead: [], streaks: [], events: [], fetched: 0 },
  queue: { byStatus: {}, oldestPendingAt: null },
  breakers: [],
  endpoints: ["/webhook"],
  startedAt: 0,
  ...over,
});

describe("rules", () => {
  test("each rule opens its condition at its threshold and not below", () => {
    const rules = {
      dead: { withinMs: 1 },
      failing: { failures: 3 },
      backlog: { olderThanMs: 60_000 },
      missed: { withinMs: 1 },
      silence: { forMs: 3_600_000 },
      certificate: { withinMs: 14 * 86_400_000 },
    };
    const quiet = seen({
      facts: {
        dead: [],
        streaks: [{ action: "a", failures: 2 }],
        events: [{ endpoint: "/webhook", events: 1 }],
        fetched: 0,
      },
      queue: { byStatus: { pending: 1 }, oldestPendingAt: 10 * 3_600_000 - 59_000 },
      certificateExpiresAt: 10 * 3_600_000 + 15 * 86_400_000,
    });
    expect(evaluate(rules, quiet).open).toEqual([]);
    const loud = seen({
      facts: { dead: [{ action: "a", dead: 100 }], streaks: [{ action: "a", failures: 3 }], events: [], fetched: 2 },
      queue: { byStatus: { pending: 4 }, oldestPendingAt: 10 * 3_600_000 - 61_000 },
      breakers: ["b"],
      certificateExpiresAt: 10 * 3_600_000 + 86_400_000,
    });
    const keys = evaluate(rules, loud).open.map((c) => [c.key, c.count]);
    expect(keys).toEqual([
      ["dead:a", 100],
      ["failing:a", 3],
      ["failing:b", 0],
      ["backlog:queue", 4],
      ["silence:*", 0],
      ["missed:catch-up", 2],
      ["certificate:listen", 1],
    ]);
  });

  test("stripe_endpoint incidents are left as they are until Stripe was checked once", () => {
    const rules = { stripeEndpoint: { everyMs: 1 } };
    expect(evaluate(rules, seen()).scope).not.toContain("stripe_endpoint:");
    const checked = evaluate(
      rules,
      seen({ stripe: [{ id: "we_1", url: "u", problems: ["the endpoint is disabled"] }] }),
    );
    expect(checked.scope).toContain("stripe_endpoint:");
    expect(checked.open.map((c) => c.key)).toEqual(["stripe_endpoint:we_1"]);
  });

  describe("stripe_endpoint against Stripe's webhook endpoints and event destinations", () => {
    const KEY = "sk_test_alerts_drift";
    const config = parseConfig(
      'endpoints: [{ path: /webhook, secrets: ["whsec_x"] }]\nhandlers:\n  invoice.paid:\n    - { name: note, log: "paid" }\n',
      { source: "t.yaml", env: {} },
    );
    /** The incidents `stripe_endpoint` opens for what the fake has now. */
    const incidents = async (fake: FakeStripeApi) => {
      const api = createStripeApi({
        settings: { apiKey: KEY, apiBase: fake.apiBase, maxRate: 100 },
        fetch: (url, init) => fetch(url, init),
        retries: 0,
        sleep: async () => {},
      });
      return evaluate({ stripeEndpoint: { everyMs: 1 } }, seen({ stripe: await stripeDrift(api, config) })).open;
    };
    const destination = (id: string, url: string): FakeEventDestination => ({
      id,
      object: "v2.core.event_destination",
      type: "webhook_endpoint",
      event_payload: "snapshot",
      enabled_events: ["invoice.paid"],
      status: "enabled",
      snapshot_api_version: STRIPE_API_VERSION,
      webhook_endpoint: { url },
      name: id,
      description: "",
      livemode: false,
      created: new Date().toISOString(),
      updated: new Date().toISOString(),
    });

    test("an enabled event destination delivers here; a disabled one opens the incident with Stripe's reason", async () => {
      const fake = startFakeStripeApi(KEY);
      try {
        expect((await incidents(fake)).map((c) => [c.key, c.summary])).toEqual([
          [
            "stripe_endpoint:none",
            "no webhook endpoint or event destination at Stripe delivers to /webhook: Stripe sends this payhook nothing (`payhook stripe endpoint create` makes a webhook endpoint)",
          ],
        ]);
        const here = destination("ed_here", "https://pay.example.com/webhook");
        fake.destinations.push(here, destination("ed_elsewhere", "https://other.example.com/hooks"));
        expect(await incidents(fake)).toEqual([]);
        here.status = "disabled";
        here.status_details = { disabled: { reason: "user" } };
        const open = await incidents(fake);
        expect(open.map((c) => c.key)).toEqual(["stripe_endpoint:ed_here"]);
        expect(open[0]?.summary).toBe(
          "Stripe's event destination ed_here (https://pay.example.com/webhook) needs attention",
        );
        expect(open[0]?.details).toContain("the event destination is disabled (reason: user): Stripe sends it nothing");
      } finally {
        fake.stop();
      }
    });

    test("a key that may not list event destinations still has its webhook endpoints checked", async () => {
      const fake = startFakeStripeApi(KEY);
      try {
        fake.inject({ path: "/v2/core/event_destinations", status: 403, times: 2 });
        const none = await incidents(fake);
        expect(none.map((c) => c.key)).toEqual(["stripe_endpoint:none"]);
        expect(none[0]?.details).toContain("event destinations could not be listed");
        expect(none[0]?.details).toContain("give the key Event Destinations: read");
        expect(none[0]?.details).not.toContain(KEY);
        fake.endpoints.push({
          id: "we_here",
          object: "webhook_endpoint",
          url: "https://pay.example.com/webhook",
          enabled_events: ["invoice.paid"],
          status: "enabled",
          api_version: STRIPE_API_VERSION,
          description: null,
          livemode: false,
          metadata: {},
          created: 0,
        });
        expect(await incidents(fake)).toEqual([]);
        expect(fake.calls("/v2/core/event_destinations")).toHaveLength(2);
      } finally {
        fake.stop();
      }
    });
  });

  test("the signature count covers the last minute only", () => {
    const count = new SlidingCount(60_000);
    expect(count.add(0, 5)).toBe(0);
    expect(count.add(30_000, 15)).toBe(10);
    expect(count.add(90_000, 16)).toBe(1);
  });

  test("backoff doubles from 1 s and stops at 10 minutes", () => {
    expect([1, 2, 3, 20].map((a) => backoff(a, () => 1))).toEqual([1_000, 2_000, 4_000, 600_000]);
  });
});

describe("incidents in the store", () => {
  const condition = (count: number): Condition => ({ key: "dead:a", rule: "dead", summary: "s", details: "d", count });
  const report = (open: Condition[]) => ({ scope: ["dead:"], open, channels: ["ops", "pager"], renotifyMs: 1_000 });

  test("open, repeats, re-send, resolve: one notification per channel per change, in order", async () => {
    const store = openSqliteStore(bunRuntime.openDatabase(join(tempDir(), "payhook.db")));
    expect(await store.recordIncidents(report([condition(1)]), 0)).toBe(2);
    expect(await store.recordIncidents(report([condition(5)]), 500)).toBe(0);
    expect((await store.incidents({ open: true, limit: 10 }))[0]?.count).toBe(5);
    expect(await store.recordIncidents(report([condition(6)]), 1_000)).toBe(2);
    expect(await store.recordIncidents(report([]), 1_100)).toBe(2);
    expect(await store.recordIncidents(report([]), 1_200)).toBe(0);
    // A resolve waits for its opening on the same channel: the first claim takes one per channel.
    const first = await store.claimNotifications(2_000, 10, 60_000);
    expect(first.map((n) => [n.channel, n.body.state, n.body.count])).toEqual([
      ["ops", "open", 1],
      ["pager", "open", 1],
    ]);
    expect(await store.claimNotifications(2_000, 10, 60_000)).toEqual([]);
    for (const n of first) await store.finishNotification({ id: n.id, attempt: n.attempt, status: "sent" }, 2_000);
    const again = await store.claimNotifications(2_000, 10, 60_000);
    expect(again.map((n) => n.body.count)).toEqual([6, 6]);
    // A claim lost (another took it over) records nothing.
    expect(await store.finishNotification({ id: again[0]?.id ?? 0, attempt: 99, status: "sent" }, 2_000)).toBe(false);
    await store.close();
  });
});
