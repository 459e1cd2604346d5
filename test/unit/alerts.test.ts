/**
 * @module The alert rules as pure functions, the sliding signature count, the notifications' backoff, and the
 * SQLite store's incident bookkeeping: one notification per channel per change, however often a condition is seen.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SlidingCount } from "../../src/alerts/loop.ts";
import { backoff } from "../../src/alerts/notifier.ts";
import { evaluate, type Observed } from "../../src/alerts/rules.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { Condition } from "../../src/store/types.ts";
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
