/**
 * End to end: thin events with their data (an action's `fetch:` gets the full event and the related object from
 * Stripe before it runs), missed thin events caught up from the v2 event list (the platform's and each connected
 * account's), and background catch-up in serve; against a local fake of Stripe's API.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SENTINEL } from "../helpers/sentinels.ts";
import { runPayhook, startServer, tempDir, testConfig, waitUntil } from "../helpers/server.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver } from "../helpers/stripe.ts";
import { useStripeFixture } from "../helpers/stripe-fixture.ts";

// Each test runs several payhook commands; under `deno run` (make test-deno) each one starts in seconds.
setDefaultTimeout(90_000);

const KEY = `rk_test_${SENTINEL}thinkey`;
const ENV = { STRIPE_API_KEY: KEY };
const METER = "/v1/billing/meters/mtr_test_61Q8";

const ctx = useStripeFixture(KEY);

const stripeSection = (extra = "") => `stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "${ctx.fake.apiBase}"
${extra}`;

/** A thin event at Stripe (with its data) and the notification Stripe pushes for it (without). */
function meterEvent(): { full: Record<string, unknown>; notification: string } {
  const full = ctx.fake.addThinEvent({
    type: "v1.billing.meter.no_meter_found",
    related_object: { id: "mtr_test_61Q8", type: "billing.meter", url: METER },
    data: { developer_message_summary: "There is no meter for event_name api_call" },
  });
  const { data: _data, ...notification } = full;
  return { full, notification: JSON.stringify(notification) };
}

function done(dir: string): boolean {
  return queryStore(dir, "SELECT 1 FROM deliveries WHERE status != 'done'").length === 0;
}

describe("thin events with their data", () => {
  test("actions and when: see the fetched event and related object; one fetch serves every action; a 429 is retried on the delivery's schedule", async () => {
    ctx.fake.setObject(METER, {
      id: "mtr_test_61Q8",
      object: "billing.meter",
      display_name: "API calls",
      status: "active",
    });
    ctx.fake.inject({ path: METER, status: 429, times: 1, headers: { "stripe-rate-limited-reason": "endpoint-rate" } });
    ctx.server = await startServer({
      env: ENV,
      config: testConfig(`${stripeSection()}handlers:
  v1.billing.meter.no_meter_found:
    - name: tell
      fetch: [related_object, event]
      log: "meter {{fetched.related_object.display_name}}: {{fetched.event.data.developer_message_summary}}"
    - name: only-active
      fetch: [related_object]
      when: { fetched.related_object.status: active }
      forward: { url: "${ctx.sink.url}/meter" }
    - name: only-inactive
      fetch: [related_object]
      when: { fetched.related_object.status: inactive }
      log: "never printed"
retry: { attempts: 3, schedule: [10ms], jitter: 0 }
`),
    });
    const { full, notification } = meterEvent();
    expect((await deliver(`${ctx.server.url}/webhook`, notification)).status).toBe(200);
    await ctx.server.waitForStdout("meter API calls: There is no meter for event_name api_call");
    const [forwarded] = await ctx.sink.waitFor("/meter", 1);
    const body = JSON.parse(new TextDecoder().decode(forwarded?.body));
    expect(body.id).toBe(full.id);
    expect(body.fetched.related_object).toMatchObject({ display_name: "API calls", status: "active" });
    await waitUntil(() => done(ctx.server?.dir ?? ""), 15_000, "every delivery done");
    expect(ctx.server.stdout.join("\n")).not.toContain("never printed");
    // One 429, then one fetch that all three actions shared; the event itself once.
    expect(ctx.fake.calls(METER)).toHaveLength(2);
    expect(ctx.fake.calls(`/v2/core/events/${full.id}`)).toHaveLength(1);

    const shown = await runPayhook(
      ["events", "show", String(full.id), "--json", "--config", join(ctx.server.dir, "payhook.yaml")],
      { cwd: ctx.server.dir, env: ENV },
    );
    const history = JSON.parse(shown.stdout).deliveries.flatMap(
      (d: { history: { error: string | null; fetched: string | null }[] }) => d.history,
    );
    expect(history.some((a: { error: string | null }) => a.error?.includes("429"))).toBe(true);
    const kept = history.find((a: { fetched: string | null }) => a.fetched !== null);
    expect(JSON.parse(kept.fetched).related_object.display_name).toBe("API calls");
    const metrics = await (await fetch(`${ctx.server.url}/metrics`)).text();
    expect(metrics).toMatch(/payhook_thin_fetches_total\{result="ok"\} [1-9]/);
    expect(metrics).toMatch(/payhook_thin_fetches_total\{result="failed"\} [1-9]/);
    for (const line of [...ctx.server.stdout, ...ctx.server.stderr, shown.stdout, metrics])
      expect(line).not.toContain(SENTINEL);
  });

  test.each([
    [
      "without stripe.api_key",
      `handlers:\n  v1.billing.meter.no_meter_found:\n    - { fetch: [event], log: x }\n`,
      'handlers."v1.billing.meter.no_meter_found"[0].fetch: fetching from Stripe needs stripe.api_key',
    ],
    [
      "on a snapshot type",
      `${"stripe:\n  api_key: sk_test_x\n"}handlers:\n  invoice.paid:\n    - { fetch: [related_object], log: x }\n`,
      "only thin events (v1.…, v2.…) are fetched",
    ],
    [
      "with an unknown target",
      `${"stripe:\n  api_key: sk_test_x\n"}handlers:\n  v1.billing.meter.no_meter_found:\n    - { fetch: [customer], log: x }\n`,
      "fetch",
    ],
  ])("fetch: %s is a config error", async (_, body, message) => {
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(file, testConfig(body).replaceAll("{{port}}", "0").replaceAll("{{dir}}", dir));
    const run = await runPayhook(["check", "--config", file], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe("catch-up of thin events and in the background", () => {
  test("catch-up finds missed thin events through the v2 event list", async () => {
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(
      file,
      testConfig(`${stripeSection()}handlers:
  v1.billing.meter.no_meter_found:
    - log: "meter {{related_object.id}}"
`)
        .replaceAll("{{port}}", "0")
        .replaceAll("{{dir}}", dir),
    );
    const events = Array.from({ length: 25 }, () => meterEvent().full);
    ctx.fake.addThinEvent({ type: "v1.billing.meter.error_report_triggered" }); // not handled: not asked for
    const run = await runPayhook(["catch-up", "--since", "1h", "--json", "--config", file], { cwd: dir, env: ENV });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ complete: true, stored: events.length });
    const rows = queryStore<{ id: string; source: string; endpoint: string }>(
      dir,
      "SELECT id, source, endpoint FROM events ORDER BY rowid",
    );
    expect(rows.map((r) => r.id)).toEqual(events.map((e) => e.id as string));
    expect(rows[0]).toMatchObject({ source: "fetched", endpoint: "stripe:/v2/core/events" });
    // No snapshot handler, so v1 List Events is not called.
    expect(ctx.fake.calls("/v1/events")).toHaveLength(0);
    expect(ctx.fake.calls("/v2/core/events").length).toBeGreaterThan(1);
  });

  test("catch-up reads each connected account's thin events with the Stripe-Context header", async () => {
    ctx.fake.accounts.push("acct_Alpha", "acct_Beta");
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(
      file,
      testConfig(`${stripeSection("  accounts: all\n")}handlers:
  v1.billing.meter.no_meter_found:
    - log: "meter {{related_object.id}}"
`)
        .replaceAll("{{port}}", "0")
        .replaceAll("{{dir}}", dir),
    );
    const thin = (context: string | null) =>
      ctx.fake.addThinEvent({ type: "v1.billing.meter.no_meter_found", context });
    const platform = thin(null);
    // More than one v2 page (20 a page): the next page is asked for in the account's context too.
    const alpha = Array.from({ length: 21 }, () => thin("acct_Alpha"));
    const beta = thin("acct_Beta");
    const run = await runPayhook(["catch-up", "--since", "1h", "--json", "--config", file], { cwd: dir, env: ENV });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ complete: true, stored: 23 });
    const lists = ctx.fake.calls("/v2/core/events");
    expect(lists.filter((r) => r.context === null)).toHaveLength(1);
    expect(lists.filter((r) => r.context === "acct_Alpha")).toHaveLength(2);
    expect(lists.filter((r) => r.context === "acct_Beta")).toHaveLength(1);
    // The accounts are listed from Stripe once; no snapshot handler, so no v1 List Events.
    expect(ctx.fake.calls("/v1/accounts")).toHaveLength(1);
    expect(ctx.fake.calls("/v1/events")).toHaveLength(0);
    const byAccount = (account: string) =>
      queryStore<{ id: string }>(dir, "SELECT id FROM events WHERE account = ? ORDER BY rowid", account).map(
        (r) => r.id,
      );
    expect(byAccount("acct_Alpha")).toEqual(alpha.map((e) => e.id as string));
    expect(byAccount("acct_Beta")).toEqual([beta.id as string]);
    expect(queryStore(dir, "SELECT id FROM events WHERE account IS NULL")).toEqual([{ id: platform.id }]);
  });

  test("serve catches up in the background at start and counts what it fetched in metrics", async () => {
    const now = Math.floor(Date.now() / 1000);
    const missed = Array.from({ length: 12 }, (_, i) =>
      ctx.fake.addEvent({ type: "invoice.paid", created: now - 3600 + i, data: { object: { id: `in_${i}` } } }),
    );
    ctx.server = await startServer({
      env: ENV,
      config: testConfig(`${stripeSection("  catch_up: { every: 1h, window: 1d }\n")}handlers:
  invoice.paid:
    - forward: { url: "${ctx.sink.url}/invoices" }
`),
    });
    await ctx.sink.waitFor("/invoices", missed.length);
    await waitUntil(() => done(ctx.server?.dir ?? ""), 15_000, "every delivery done");
    await ctx.server.waitForStderr("background catch-up complete");
    const metrics = await (await fetch(`${ctx.server.url}/metrics`)).text();
    expect(metrics).toContain(`payhook_fetched_events_total{result="stored"} ${missed.length}`);
    expect(metrics).toContain('payhook_catch_up_runs_total{result="complete"} 1');
    expect(queryStore(ctx.server.dir, "SELECT holder FROM leases WHERE name = 'catch-up'")).toHaveLength(1);
    for (const line of [...ctx.server.stdout, ...ctx.server.stderr, metrics]) expect(line).not.toContain(SENTINEL);
  });

  test("SIGTERM ends calls to an API that never answers: background catch-up's and a thin event's fetch", async () => {
    ctx.fake.inject({ hang: true, times: 1_000 });
    ctx.server = await startServer({
      env: ENV,
      config: testConfig(`${stripeSection("  catch_up: { every: 1h, window: 1d }\n")}handlers:
  invoice.paid:
    - log: "paid"
  v1.billing.meter.no_meter_found:
    - { name: tell, fetch: [event], log: "fetched" }
`),
    });
    const { full, notification } = meterEvent();
    expect((await deliver(`${ctx.server.url}/webhook`, notification)).status).toBe(200);
    await waitUntil(
      () => ctx.fake.calls("/v1/events").length > 0 && ctx.fake.calls(`/v2/core/events/${full.id}`).length > 0,
      15_000,
      "both calls made and left unanswered",
    );
    const server = ctx.server;
    // Each call would otherwise wait out its 30 s timeout, and catch-up its retries after it: minutes in all.
    // A bound on the wait (well past the 5 s stop grace), not an assertion on time.
    const code = await Promise.race([server.stop(), Bun.sleep(20_000).then(() => "still running")]);
    expect(code).toBe(0);
    expect(server.stderr.join("\n")).toContain("cancelled because payhook is stopping");
    // The event stays acknowledged and its delivery is left for the next start, not failed.
    const rows = queryStore<{ status: string }>(server.dir, "SELECT status FROM deliveries");
    expect(rows).toHaveLength(1);
    expect(["pending", "running"]).toContain(rows[0]?.status as string);
  });

  test.each([
    [
      "a plain-http api_base beyond loopback",
      'stripe:\n  api_key: sk_test_x\n  api_base: "http://stripe.example.com"\n',
      "stripe.api_base: must be an https:// URL",
    ],
    ["catch_up without api_key", "stripe:\n  catch_up: { every: 15m }\n", "background catch-up needs stripe.api_key"],
    [
      "a window past 30 days",
      "stripe:\n  api_key: sk_test_x\n  catch_up: { every: 15m, window: 31d }\n",
      "stripe.catch_up.window: must be at most 30d",
    ],
    [
      "a run more often than every minute",
      "stripe:\n  api_key: sk_test_x\n  catch_up: { every: 10s }\n",
      "at least 1m",
    ],
    ["a key that is not one", 'stripe:\n  api_key: "pk_test_nope"\n', "stripe.api_key: expected"],
  ])("%s is a config error", async (_, body, message) => {
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(file, testConfig(`${body}handlers: {}\n`).replaceAll("{{port}}", "0").replaceAll("{{dir}}", dir));
    const run = await runPayhook(["check", "--config", file], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).not.toContain("pk_test_nope");
  });
});
