/** End to end: `payhook events list|show|replay` on the store of a running server, and retention pruning. */
import { Database } from "bun:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type RunningServer, runPayhook, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

let server: RunningServer | undefined;
let sink: Sink;
beforeEach(async () => {
  sink = await startSink();
});
afterEach(async () => {
  await server?.kill();
  server = undefined;
  await sink.close();
});

const config = () =>
  testConfig(`handlers:
  payment_intent.succeeded:
    - { name: billing, forward: { url: "${sink.url}/billing" } }
  invoice.paid:
    - log: "invoice {{data.object.id}}"
retry: { attempts: 2, schedule: [10ms], jitter: 0 }
`);

function statuses(dir: string): string[] {
  return queryStore<{ status: string }>(dir, "SELECT status FROM deliveries ORDER BY id").map((r) => r.status);
}

const events = (dir: string, ...args: string[]) =>
  runPayhook(["events", ...args, "--config", join(dir, "payhook.yaml")], { cwd: dir });

describe("payhook events", () => {
  test("list, show and replay find and fix a dead delivery while serve runs", async () => {
    sink.plan("/billing", ["500"]);
    server = await startServer({ config: config() });
    const dir = server.dir;
    const paid = event("payment_intent.succeeded");
    const invoice = event("invoice.paid");
    await deliver(`${server.url}/webhook`, paid);
    await deliver(`${server.url}/webhook`, invoice);
    await waitUntil(() => statuses(dir).includes("dead") && statuses(dir).includes("done"));

    const table = await events(dir, "list");
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("RECEIVED");
    expect(table.stdout).toContain(`${idOf(paid)}  payment_intent.succeeded  1 dead`);
    expect(table.stdout).toContain(`${idOf(invoice)}  invoice.paid`);

    const dead = await events(dir, "list", "--status", "dead", "--json");
    const lines = dead.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      id: idOf(paid),
      type: "payment_intent.succeeded",
      deliveries: [{ action: "billing", status: "dead", attempts: 2 }],
    });
    expect((await events(dir, "list", "--type", "invoice.*", "--json")).stdout).toContain(idOf(invoice));
    expect((await events(dir, "list", "--type", "invoice.*", "--json")).stdout).not.toContain(idOf(paid));

    const shown = await events(dir, "show", idOf(paid));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("delivery  billing: dead after 2 attempts");
    expect(shown.stdout.match(/answered 500/g)).toHaveLength(2);
    expect(shown.stdout).toContain(paid); // the exact body
    const detail = JSON.parse((await events(dir, "show", idOf(paid), "--json")).stdout);
    expect(detail.body).toBe(paid);
    expect(detail.deliveries[0].history.map((a: { status: string }) => a.status)).toEqual(["pending", "dead"]);

    // The service is fixed; replaying the dead deliveries delivers the event.
    sink.plan("/billing", ["200"]);
    const replayed = await events(dir, "replay", "--status", "dead");
    expect(replayed.code).toBe(0);
    expect(replayed.stdout).toContain("re-queued 1 delivery of 1 event");
    await sink.waitFor("/billing", 3);
    await waitUntil(() => statuses(dir).every((s) => s === "done"));
    expect((await events(dir, "list", "--status", "dead", "--json")).stdout).toBe("");
    const after = JSON.parse((await events(dir, "show", idOf(paid), "--json")).stdout);
    expect(after.deliveries[0].history.map((a: { status: string }) => a.status)).toEqual(["pending", "dead", "done"]);
    expect(new Set(sink.to("/billing").map((r) => r.headers["idempotency-key"])).size).toBe(1);
  });

  test("replay EVENT_ID runs a done event's actions again; pending or unknown ones are reported", async () => {
    server = await startServer({ config: config() });
    const dir = server.dir;
    const invoice = event("invoice.paid");
    await deliver(`${server.url}/webhook`, invoice);
    await server.waitForStdout(`invoice ${JSON.parse(invoice).data.object.id}`);
    await waitUntil(() => statuses(dir).every((s) => s === "done"));
    const replayed = await events(dir, "replay", idOf(invoice), "--json");
    expect(JSON.parse(replayed.stdout)).toEqual({ requeued: 1, events: 1, skipped: [] });
    await waitUntil(
      () => server?.stdout.filter((l) => l === `invoice ${JSON.parse(invoice).data.object.id}`).length === 2,
    );
    const missing = await events(dir, "show", "evt_nope");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no event evt_nope");
  });

  test("list and show never write: a store at an older schema is left as it is, and the error says what reads it", async () => {
    server = await startServer({ config: config() });
    const dir = server.dir;
    const invoice = event("invoice.paid");
    await deliver(`${server.url}/webhook`, invoice);
    expect(await server.stop()).toBe(0);
    server = undefined;
    const file = join(dir, "payhook.db");
    const db = new Database(file);
    const version = (d: Database) =>
      Number((d.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
    const current = version(db);
    // As a server of the previous version left it (the last step only dropped an index).
    db.exec(`PRAGMA user_version = ${current - 1}`);
    db.close();
    for (const args of [["list"], ["show", idOf(invoice)]]) {
      const read = await events(dir, ...args);
      expect(read.code).toBe(1);
      expect(read.stderr).toContain(`at schema ${current - 1}, and this payhook reads schema ${current}`);
    }
    const after = new Database(file, { readonly: true });
    expect(version(after)).toBe(current - 1);
    after.close();
  });

  test.each([
    [["replay"], "needs an EVENT_ID, or --status"],
    [["replay", "--status", "pending"], "only done, failed, dead"],
    [["list", "--status", "lost"], "--status must be one of"],
    [["list", "--since", "yesterday"], "--since expects a duration"],
    [["list", "--limit", "0"], "--limit expects a whole number"],
    [["frobnicate"], 'unknown events subcommand "frobnicate"'],
  ])("usage errors: %p", async (args, message) => {
    server = await startServer({ config: config() });
    const result = await events(server.dir, ...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  test("retention prunes old events whose deliveries are finished, and keeps the rest", async () => {
    sink.plan("/billing", ["hang"]);
    const withRetention = config().replace("retry:", "retention: 30d\nretry:");
    server = await startServer({ config: withRetention });
    const dir = server.dir;
    const old = event("invoice.paid");
    const recent = event("invoice.paid");
    const stuck = event("payment_intent.succeeded");
    for (const e of [old, recent, stuck]) await deliver(`${server.url}/webhook`, e);
    await waitUntil(() => statuses(dir).filter((s) => s === "done").length === 2);
    await server.kill();
    // Age two events past the retention by value: one finished, one with a delivery still pending.
    const db = new Database(join(dir, "payhook.db"));
    const ago = Date.now() - 40 * 86_400_000;
    db.prepare("UPDATE events SET received_at = ? WHERE id IN (?, ?)").run(ago, idOf(old), idOf(stuck));
    db.prepare("UPDATE deliveries SET status = 'pending', next_at = ? WHERE action = 'billing'").run(
      Date.now() + 86_400_000,
    );
    db.close();

    server = await startServer({ config: withRetention, dir });
    await server.waitForStderr("pruned events older than the retention");
    const ids = JSON.parse(`[${(await events(dir, "list", "--json")).stdout.trim().split("\n").join(",")}]`) as {
      id: string;
    }[];
    expect(ids.map((e) => e.id).sort()).toEqual([idOf(recent), idOf(stuck)].sort());
    // The pruned event's id is forgotten only after the retention: a fresh delivery of it is new again.
    expect(await (await deliver(`${server.url}/webhook`, old)).json()).toEqual({ received: true });
  });

  test("a retention shorter than Stripe's retry window is a config error", async () => {
    const result = await runPayhook(["check", "--config", "/dev/stdin"], {
      stdin: "endpoints: [{ path: /webhook, secrets: [whsec_x] }]\nretention: 1d\n",
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("retention: must be at least 3d");
  });
});
