/**
 * @module Operator control end to end, from the compiled binary, on the store the file chooses (control.test.ts:
 * SQLite, control-postgres.test.ts: PostgreSQL): retry now after an outage, pause across a restart, `rate:`,
 * a 429 without Retry-After, the breaker, discarding a removed action's deliveries, and the audit trail of the
 * command line's acts. One sink per file.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, runPayhook, startServer, waitUntil } from "../helpers/server.ts";
import { type Sink, type SinkRequest, startSink } from "../helpers/sink.ts";
import type { TestStore } from "../helpers/stores.ts";
import { deliver, event, idOf, SECRET } from "../helpers/stripe.ts";

export function controlCases(store: TestStore): void {
  let sink: Sink;
  const servers: RunningServer[] = [];
  beforeAll(async () => {
    await store.start();
    sink = await startSink();
  }, 90_000);
  afterAll(async () => {
    await sink?.close();
    await store.close();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.kill();
    sink.requests.length = 0;
    await store.fresh();
  });

  const config = (action: string) => `listen: { host: 127.0.0.1, port: {{port}} }
store: ${store.setting}
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  "*":
    - name: crm
      forward: { url: "${sink.url}/crm/{{data.object.id}}" }
${action}`;

  async function serve(action: string, dir?: string): Promise<RunningServer> {
    const server = await startServer({ config: config(action), env: store.env, ...(dir ? { dir } : {}) });
    servers.push(server);
    return server;
  }

  const cli = (server: RunningServer, ...args: string[]) =>
    runPayhook([...args, "--config", join(server.dir, "payhook.yaml")], { env: store.env, cwd: server.dir });

  async function send(server: RunningServer, n: number, object = (i: number) => `pi_${i}`): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const payload = event("payment_intent.succeeded", {
        data: { object: { id: object(i), object: "payment_intent" } },
      });
      expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
      ids.push(idOf(payload));
    }
    return ids;
  }

  const statuses = async (server: RunningServer) =>
    (await store.query<{ status: string; attempts: number }>(server.dir, "SELECT status, attempts FROM deliveries"))
      .map((r) => `${r.status}:${r.attempts}`)
      .sort();

  describe(`operator control on ${store.name}`, () => {
    test("after an outage, deliveries retry --action delivers every backing-off delivery at once; order: holds", async () => {
      // The default schedule but for its first 5 s (a slow machine could reach it before the command ends).
      sink.plan("*", ["503", "503", "503", "503", "200"]);
      const server = await serve(`      order: { key: "{{data.object.id}}" }
      retry: { schedule: [5m, 30m, 2h, 5h, 10h] }`);
      const sent = await send(server, 4, (i) => `pi_${i % 2}`);
      await waitUntil(async () => (await statuses(server)).filter((s) => s === "pending:1").length === 2);
      // Two keys, each: the first event failed and backs off, the second waits behind it.
      sink.plan("*", ["200"]);
      const result = await cli(server, "deliveries", "retry", "--action", "crm");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("2 deliveries due now");
      expect(result.stdout).toContain("2 left: waiting for an earlier delivery of their order key");
      // Long before the 5 minutes the schedule would wait.
      await waitUntil(async () => (await statuses(server)).every((s) => s.startsWith("done")), 4_000, "all delivered");
      const delivered = sink.requests.filter((r) => r.status === 200);
      for (const [key, ids] of [
        ["pi_0", [sent[0], sent[2]]],
        ["pi_1", [sent[1], sent[3]]],
      ] as [string, string[]][]) {
        expect(delivered.filter((r) => r.url === `/crm/${key}`).map(eventIdOf)).toEqual([...ids]);
      }
      const audit = await cli(server, "audit", "--json");
      const act = JSON.parse(audit.stdout.trim().split("\n")[0] ?? "{}");
      expect(act).toMatchObject({ act: "retry", count: 2, target: "action crm (pending,failed)" });
      expect(act.who).toContain("(command line)");
    }, 30_000);

    test("deliveries discard throws away a removed action's deliveries while serve runs; a live action is refused", async () => {
      sink.plan("*", ["503"]);
      const server = await serve("      retry: { schedule: [10m] }");
      const [first] = await send(server, 2);
      await waitUntil(async () => (await statuses(server)).join() === "pending:1,pending:1");
      const live = await cli(server, "deliveries", "discard", "--action", "crm", "--yes");
      expect(live.code).toBe(2);
      expect(live.stderr).toContain('still has the action "crm"');
      expect(live.stderr).toContain("--force");
      // The operator renamed the action: the command runs on the new config while serve still runs.
      const renamed = join(server.dir, "renamed.yaml");
      writeFileSync(
        renamed,
        readFileSync(join(server.dir, "payhook.yaml"), "utf8").replace("- name: crm", "- name: crm-next"),
      );
      const next = (...args: string[]) =>
        runPayhook([...args, "--config", renamed], { env: store.env, cwd: server.dir });
      const before = JSON.parse((await next("status", "--json")).stdout);
      expect(before.actions).toContainEqual(expect.objectContaining({ action: "crm", state: "removed", pending: 2 }));
      expect((await next("actions", "list")).stdout).toMatch(/crm +removed .*payhook deliveries discard --action crm/);
      const unasked = await next("deliveries", "discard", "--action", "crm");
      expect(unasked.code).toBe(1);
      expect(unasked.stderr).toContain("pass --yes");
      const dry = await next("deliveries", "discard", "--action", "crm", "--dry-run");
      expect(dry.stdout).toContain("would discard 2 deliveries of crm");
      expect(await statuses(server)).toEqual(["pending:1", "pending:1"]);
      const done = await next("deliveries", "discard", "--action", "crm", "--yes");
      expect(done.code).toBe(0);
      expect(done.stdout).toContain("discarded 2 deliveries of crm: they never run again");
      expect(await statuses(server)).toEqual(["discarded:1", "discarded:1"]);
      expect((await cli(server, "deliveries", "retry", "--action", "crm")).stdout).toContain("0 deliveries due now");
      expect((await next("events", "show", first as string)).stdout).toContain("discarded after 1 attempt");
      const after = JSON.parse((await next("status", "--json")).stdout);
      expect(after.actions.map((a: { action: string }) => a.action)).toEqual(["crm-next"]);
      const acts = (await next("audit", "--json")).stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(acts[1]).toMatchObject({ act: "discard", count: 2, target: "action crm (pending,failed,dead)" });
      expect(sink.requests).toHaveLength(2);
      sink.plan("*", ["200"]);
    }, 30_000);

    test("pause holds across a restart using no attempts; resume releases every held delivery", async () => {
      const first = await serve("");
      const paused = await cli(first, "actions", "pause", "crm", "--reason", "crm down");
      expect(paused.stdout).toContain("paused crm");
      const line = JSON.parse(await first.waitForStderr('"msg":"action paused"'));
      expect(line).toMatchObject({ action: "crm", reason: "crm down" });
      expect(line.by).toContain("(command line)");
      await send(first, 3);
      await first.stop();
      const second = await serve("", first.dir);
      await second.waitForStderr('"msg":"action paused"'); // the pause, as the store held it at start
      await send(second, 2);
      expect(await statuses(second)).toEqual(Array(5).fill("pending:0"));
      const list = await cli(second, "actions", "list", "--json");
      expect(JSON.parse(list.stdout)).toMatchObject({ action: "crm", state: "paused", pending: 5 });
      const status = JSON.parse((await cli(second, "status", "--json")).stdout);
      expect(status.actions[0]).toMatchObject({ action: "crm", state: "paused" });
      expect(status.endpoints).toEqual([{ endpoint: "/webhook", last_hour: 5, last_day: 5 }]);
      const resuming = Date.now();
      expect((await cli(second, "actions", "resume", "crm")).stdout).toContain("resumed crm");
      await second.waitForStderr('"msg":"action resumed"');
      await waitUntil(() => sink.requests.length === 5, 5_000, "every held delivery");
      // Nothing reached the target while paused, and each delivery took one attempt: none was used while held.
      expect(sink.requests.filter((r) => r.at < resuming)).toEqual([]);
      await waitUntil(async () => (await statuses(second)).every((s) => s === "done:1"));
      const acts = (await cli(second, "audit", "--json")).stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).act);
      expect(acts).toEqual(["resume", "pause"]);
    }, 30_000);

    // One server per SQLite store (its lock): only PostgreSQL has two instances on one database.
    if (store.name === "postgres")
      test("two instances on one database both hold a paused action; resume releases both", async () => {
        const a = await serve("");
        const b = await serve("");
        expect((await cli(a, "actions", "pause", "crm")).code).toBe(0);
        await Promise.all([a, b].map((s) => s.waitForStderr('"msg":"action paused"')));
        await send(a, 2);
        await send(b, 2);
        expect(await statuses(a)).toEqual(Array(4).fill("pending:0"));
        const resuming = Date.now();
        expect((await cli(b, "actions", "resume", "crm")).code).toBe(0);
        await Promise.all([a, b].map((s) => s.waitForStderr('"msg":"action resumed"')));
        await waitUntil(async () => (await statuses(a)).every((s) => s === "done:1"), 5_000, "all delivered");
        expect(sink.requests).toHaveLength(4);
        expect(sink.requests.filter((r) => r.at < resuming)).toEqual([]);
      }, 30_000);

    test("rate: 5/s never lets more than 5 attempts reach the target in one second, and everything arrives", async () => {
      const server = await serve("      rate: 5/s");
      await send(server, 16);
      await waitUntil(() => sink.requests.length === 16, 10_000, "every delivery");
      const times = sink.requests.map((r) => r.at).sort((a, b) => a - b);
      for (const t of times) expect(times.filter((u) => u >= t && u < t + 1_000).length).toBeLessThanOrEqual(5);
    }, 30_000);

    test("a 429 without Retry-After holds the action 1 s, then 2 s, though its schedule says 100 ms", async () => {
      sink.plan("*", ["429", "429", "200"]);
      const server = await serve("      retry: { attempts: 5, schedule: [100ms], jitter: 0 }");
      await send(server, 1);
      await waitUntil(async () => (await statuses(server)).every((s) => s === "done:3"), 10_000, "delivered");
      const holds = server.stderr.filter((l) => l.includes("holding the action")).map((l) => JSON.parse(l));
      expect(holds.map((h) => [h.action, h.hold_ms])).toEqual([
        ["crm", 1_000],
        ["crm", 2_000],
      ]);
      const started = await store.query<{ started_at: number }>(
        server.dir,
        "SELECT started_at FROM attempts ORDER BY attempt",
      );
      // The attempt after each 429 started once the hold it asked for had ended, as the server's own clock says.
      expect(Number(started[1]?.started_at)).toBeGreaterThanOrEqual(Date.parse(holds[0].until));
      expect(Number(started[2]?.started_at)).toBeGreaterThanOrEqual(Date.parse(holds[1].until));
    }, 30_000);

    test("breaker: a target that stays down sees the threshold plus one probe per interval, none goes dead", async () => {
      sink.plan("*", ["500"]);
      const server = await serve(`      breaker: { failures: 3, probe: 1s }
      retry: { attempts: 3, schedule: [100ms], jitter: 0 }`);
      await send(server, 3);
      await server.waitForStderr("breaker opened");
      await send(server, 5);
      // Two probes a second apart: unheld, 3 attempts 100 ms apart would have sent all 8 dead by then.
      const probes = () => server.stderr.filter((l) => l.includes("trying one delivery as a probe")).length;
      await waitUntil(() => probes() >= 2, 10_000, "two probes");
      const reached = sink.requests.length;
      // The threshold, at most the two retries already started when the third failure came, and one per probe.
      expect(reached).toBeLessThanOrEqual(3 + 2 + probes());
      // Held or probing (the last probe may still be running), none done, failed for good or dead.
      expect((await statuses(server)).filter((s) => !/^(pending|running):/.test(s))).toEqual([]);
      const status = JSON.parse((await cli(server, "status", "--json")).stdout);
      expect(status.actions[0]).toMatchObject({ action: "crm", state: "breaker open" });
      sink.plan("*", ["200"]);
      await server.waitForStderr("breaker closed", 5_000);
      await waitUntil(async () => (await statuses(server)).every((s) => s.startsWith("done")), 10_000, "all done");
    }, 30_000);
  });
}

function eventIdOf(request: SinkRequest): string {
  return (JSON.parse(new TextDecoder().decode(request.body)) as { id: string }).id;
}
