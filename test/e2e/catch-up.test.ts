/**
 * End to end: `payhook catch-up` against a local fake of Stripe's Events API. Events Stripe has that payhook
 * missed are stored once and their actions run once, however often catch-up runs and whatever Stripe pushes at
 * the same time; rate limits slow a run without failing it; bad answers stop it clearly.
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

const KEY = `sk_test_${SENTINEL}catchupkey`;
const ENV = { STRIPE_API_KEY: KEY };

const ctx = useStripeFixture(KEY);

const config = () =>
  testConfig(`stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "${ctx.fake.apiBase}"
  max_rate: 100
handlers:
  payment_intent.succeeded:
    - { name: billing, forward: { url: "${ctx.sink.url}/billing" } }
  invoice.paid:
    - { name: invoices, forward: { url: "${ctx.sink.url}/invoices" } }
retry: { attempts: 3, schedule: [10ms], jitter: 0 }
`);

/** A folder with the config written as serve would read it ({{port}} is only used by serve). */
function setup(): string {
  const dir = tempDir();
  writeFileSync(join(dir, "payhook.yaml"), config().replaceAll("{{port}}", "0").replaceAll("{{dir}}", dir));
  return dir;
}

const catchUp = (dir: string, ...args: string[]) =>
  runPayhook(["catch-up", "--config", join(dir, "payhook.yaml"), ...args], { cwd: dir, env: ENV });

/** Snapshot events in Stripe, `ago` seconds old each (oldest first), of the given types in turn. */
function history(count: number, types: string[], ago: (i: number) => number): Record<string, unknown>[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: count }, (_, i) =>
    ctx.fake.addEvent({
      type: types[i % types.length],
      created: now - ago(i),
      data: { object: { id: `obj_${i}`, object: "thing", amount: i } },
    }),
  );
}

const handled = (events: Record<string, unknown>[]) =>
  events.filter((e) => e.type === "payment_intent.succeeded" || e.type === "invoice.paid");

function noSecretIn(...texts: string[]): void {
  for (const text of texts) expect(text).not.toContain(SENTINEL);
}

describe("payhook catch-up", () => {
  test("finds the events missed while payhook was stopped, oldest first, and their actions run once; a second run finds nothing new", async () => {
    const dir = setup();
    // Two days old: before the window, so catch-up anchors on the newest of them.
    history(5, ["payment_intent.succeeded"], (i) => 2 * 86_400 + 100 - i);
    const missed = history(230, ["payment_intent.succeeded", "invoice.paid", "customer.created"], (i) => 7200 - i * 10);
    const wanted = handled(missed);

    const first = await catchUp(dir, "--since", "24h", "--json");
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary).toMatchObject({
      complete: true,
      // The handler map names exact types, so List Events is asked for those only.
      seen: wanted.length,
      stored: wanted.length,
      duplicates: 0,
    });
    expect(summary.pages).toBe(2);
    // Stored oldest first, each with its delivery, each marked as fetched.
    const rows = queryStore<{ id: string; source: string; deliveries: number }>(
      dir,
      "SELECT id, source, (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id) AS deliveries FROM events e ORDER BY rowid",
    );
    expect(rows.map((r) => r.id)).toEqual(wanted.map((e) => e.id as string));
    expect(new Set(rows.map((r) => r.source))).toEqual(new Set(["fetched"]));
    expect(rows.every((r) => r.deliveries === 1)).toBe(true);
    // Only the window was read, never before the anchor.
    expect(ctx.fake.calls("/v1/events").some((r) => r.query.get("ending_before") !== null)).toBe(true);

    ctx.server = await startServer({ config: config(), dir, env: ENV });
    const payments = wanted.filter((e) => e.type === "payment_intent.succeeded").length;
    await ctx.sink.waitFor("/billing", payments);
    await ctx.sink.waitFor("/invoices", wanted.length - payments);
    await waitUntil(
      () => queryStore(dir, "SELECT 1 FROM deliveries WHERE status != 'done'").length === 0,
      15_000,
      "every delivery done",
    );
    const keys = ctx.sink.requests.map((r) => r.headers["idempotency-key"]);
    expect(keys).toHaveLength(wanted.length);
    expect(new Set(keys).size).toBe(wanted.length);

    const second = await catchUp(dir, "--since", "24h", "--json");
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ complete: true, stored: 0, duplicates: wanted.length });
    await ctx.server.stop();
    ctx.server = undefined;
    expect(ctx.sink.requests).toHaveLength(wanted.length);

    const listed = await runPayhook(
      ["events", "list", "--source", "fetched", "--limit", "1000", "--json", "--config", join(dir, "payhook.yaml")],
      { cwd: dir, env: ENV },
    );
    expect(listed.stdout.trim().split("\n")).toHaveLength(wanted.length);
    const one = await runPayhook(["events", "show", String(wanted[0]?.id), "--config", join(dir, "payhook.yaml")], {
      cwd: dir,
      env: ENV,
    });
    expect(one.stdout).toContain("fetched ");
    expect(one.stdout).toContain("by payhook catch-up");
    noSecretIn(first.stdout, first.stderr, second.stdout, second.stderr, listed.stdout, one.stdout, ...serverLogs());
  });

  test("catch-up while Stripe also delivers the same events to a running payhook runs each action once", async () => {
    const dir = setup();
    ctx.server = await startServer({ config: config(), dir, env: ENV });
    const events = history(40, ["payment_intent.succeeded", "invoice.paid"], (i) => 600 - i);
    // Stripe pushes each event while catch-up pages through the same ones.
    const pushes = events.map((e) => deliver(`${ctx.server?.url}/webhook`, JSON.stringify(e, null, 2)));
    const runs = [catchUp(dir, "--since", "1h", "--json"), catchUp(dir, "--since", "1h", "--json")];
    for (const push of await Promise.all(pushes)) expect(push.status).toBe(200);
    for (const run of await Promise.all(runs)) expect(run.code).toBe(0);
    await waitUntil(
      () => queryStore(dir, "SELECT 1 FROM deliveries WHERE status != 'done'").length === 0,
      15_000,
      "every delivery done",
    );
    expect(queryStore(dir, "SELECT 1 FROM deliveries")).toHaveLength(events.length);
    const keys = ctx.sink.requests.map((r) => r.headers["idempotency-key"]);
    expect(keys).toHaveLength(events.length);
    expect(new Set(keys).size).toBe(events.length);
  });

  test("a storm of 429s slows the run down but it completes", async () => {
    const dir = setup();
    // No event before the window: catch-up first walks back to the window's oldest page.
    const events = history(250, ["invoice.paid"], (i) => 3000 - i);
    ctx.fake.inject({
      path: "/v1/events",
      status: 429,
      times: 8,
      every: 2,
      headers: { "stripe-rate-limited-reason": "global-rate" },
    });
    const run = await catchUp(dir, "--since", "2h", "--json");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ complete: true, stored: events.length });
    expect(run.stderr).toContain("global-rate");
    expect(queryStore(dir, "SELECT id FROM events ORDER BY rowid").map((r) => (r as { id: string }).id)).toEqual(
      events.map((e) => e.id as string),
    );
  });

  test("Stripe-Should-Retry: false stops at once instead of retrying", async () => {
    const dir = setup();
    history(3, ["invoice.paid"], (i) => 60 - i);
    ctx.fake.inject({ path: "/v1/events", status: 500, times: 1, headers: { "stripe-should-retry": "false" } });
    const run = await catchUp(dir, "--since", "1h");
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Stripe answered 500");
    expect(ctx.fake.calls("/v1/events")).toHaveLength(1);
  });

  test.each([
    ["a 500 that does not go away", { status: 500, times: 100 }, "Stripe answered 500"],
    ["a 403 (a restricted key without Events: read)", { status: 403, times: 1 }, "may not do this (403)"],
    ["a page that is not JSON", { garbage: "<html>gateway</html>", times: 1 }, "not JSON"],
    ["a page that repeats", { repeat: true, times: 1 }, "twice"],
  ])(
    "%s stops the run part way, says how far it got, and a rerun finishes the job",
    async (_, fault, message) => {
      const dir = setup();
      history(1, ["invoice.paid"], () => 86_400); // the anchor: pages come oldest first from the first request on
      const events = history(250, ["invoice.paid"], (i) => 3000 - i);
      // The anchor request and the first page pass; the second page fails.
      ctx.fake.inject({ ...fault, path: "/v1/events", after: 2 });
      const run = await catchUp(dir, "--since", "2h", "--json");
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(message);
      expect(run.stderr).toContain("catch-up stopped part way");
      const summary = JSON.parse(run.stdout);
      expect(summary.complete).toBe(false);
      expect(summary.stored).toBe(100);
      // Never a half-stored event: every stored event has its delivery.
      expect(
        queryStore(dir, "SELECT 1 FROM events e WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)"),
      ).toHaveLength(0);
      const resume = /--from (\S+)`/.exec(run.stderr)?.[1];
      expect(resume).toBeDefined();
      ctx.fake.clearFaults(); // Stripe is well again
      const rerun = await catchUp(dir, "--from", String(resume), "--json");
      expect(rerun.code).toBe(0);
      expect(queryStore(dir, "SELECT 1 FROM events")).toHaveLength(events.length);
      noSecretIn(run.stdout, run.stderr);
    },
    60_000,
  );

  test("a refused key (401) stops with a clear error that never shows the key", async () => {
    const dir = setup();
    history(3, ["invoice.paid"], (i) => 60 - i);
    const run = await runPayhook(["catch-up", "--config", join(dir, "payhook.yaml")], {
      cwd: dir,
      env: { STRIPE_API_KEY: `sk_test_${SENTINEL}wrongkey` },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Stripe refused the API key (401)");
    noSecretIn(run.stdout, run.stderr);
  });

  test("--dry-run counts what would be stored and stores nothing", async () => {
    const dir = setup();
    history(12, ["invoice.paid", "customer.created"], (i) => 60 - i);
    expect((await catchUp(dir, "--since", "1h")).code).toBe(0);
    history(4, ["invoice.paid"], (i) => 30 - i);
    const run = await catchUp(dir, "--since", "1h", "--dry-run", "--json");
    expect(run.code).toBe(0);
    // The handler map names exact types, so only those are listed.
    expect(JSON.parse(run.stdout)).toMatchObject({ dry_run: true, seen: 10, stored: 4, duplicates: 6 });
    expect(ctx.fake.calls("/v1/events").at(-1)?.query.getAll("types[0]")).toEqual(["payment_intent.succeeded"]);
    expect(queryStore(dir, "SELECT 1 FROM events")).toHaveLength(6);
  });

  test.each([
    [["--since", "31d"], "30 days"],
    [["--from", "2020-01-01T00:00:00Z"], "30 days"],
    [["--since", "1h", "--from", "2026-01-01T00:00:00Z"], "not both"],
    [["--from", "yesterday"], "--from expects"],
  ])("catch-up %j is refused: %s", async (args, message) => {
    const dir = setup();
    const run = await catchUp(dir, ...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(ctx.fake.requests).toHaveLength(0);
  });

  test("without stripe.api_key, catch-up is a config error that says what to add", async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "payhook.yaml"),
      testConfig("handlers:\n  invoice.paid:\n    - log: x\n").replaceAll("{{port}}", "0").replaceAll("{{dir}}", dir),
    );
    const run = await runPayhook(["catch-up", "--config", join(dir, "payhook.yaml")], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("stripe.api_key: catch-up needs Stripe API access");
  });
});

function serverLogs(): string[] {
  return ctx.server ? [...ctx.server.stdout, ...ctx.server.stderr] : [];
}
