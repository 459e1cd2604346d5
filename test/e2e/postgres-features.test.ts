/**
 * End to end on PostgreSQL, from the compiled binary: `payhook catch-up` stores the events Stripe has into a
 * PostgreSQL store (once, however often it runs) and serve runs their actions; the operator page lists, searches
 * and groups the failures of events stored in PostgreSQL (a NUL in a search matches nothing), and says which store
 * it is on. One throwaway cluster.
 */
import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeStripeApi, startFakeStripeApi } from "../helpers/fake-stripe-api.ts";
import { type Cluster, startCluster } from "../helpers/postgres.ts";
import { SENTINEL } from "../helpers/sentinels.ts";
import { freePort, type RunningServer, runPayhook, startServer, tempDir, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { deliver, event, idOf, SECRET } from "../helpers/stripe.ts";

// Each test runs several payhook commands; under `deno run` (make test-deno) each one starts in seconds.
setDefaultTimeout(90_000);

const KEY = `sk_test_${SENTINEL}pgcatchupkey`;
const TOKEN = "sentinel-admin-token-pg-0123456789";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(() => cluster?.stop());

let server: RunningServer | undefined;
let fake: FakeStripeApi | undefined;
let sink: Sink | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
  fake?.stop();
  fake = undefined;
  await sink?.close();
  sink = undefined;
});

const rows = (url: string, sql: string) =>
  cluster
    .psql(sql, new URL(url).pathname.slice(1))
    .split("\n")
    .filter((line) => line !== "");

describe("catch-up and the operator page on PostgreSQL", () => {
  test("catch-up stores the missed events into PostgreSQL once, marked fetched, and serve runs their actions", async () => {
    fake = startFakeStripeApi(KEY);
    sink = await startSink();
    const url = cluster.url(cluster.createDatabase());
    const now = Math.floor(Date.now() / 1000);
    const missed = Array.from({ length: 3 }, (_, i) =>
      fake?.addEvent({
        type: "payment_intent.succeeded",
        created: now - 3600 + i,
        data: { object: { id: `pi_${i}`, object: "payment_intent", customer: "cus_pg" } },
      }),
    ).map((e) => String(e?.id));
    const config = `listen: { host: 127.0.0.1, port: {{port}} }
store: \${DATABASE_URL}
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "${fake.apiBase}"
handlers:
  payment_intent.succeeded:
    - { name: billing, forward: { url: "${sink.url}/billing" } }
retry: { attempts: 3, schedule: [10ms], jitter: 0 }
`;
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(file, config.replace("{{port}}", "0"));
    const env = { DATABASE_URL: url, STRIPE_API_KEY: KEY };
    const catchUp = () => runPayhook(["catch-up", "--since", "24h", "--json", "--config", file], { cwd: dir, env });

    const first = await catchUp();
    expect(first.stderr).not.toContain(SENTINEL);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ complete: true, stored: 3, duplicates: 0 });
    expect(rows(url, "SELECT id, source, customer_id FROM payhook.events ORDER BY id")).toEqual(
      missed.sort().map((id) => `${id}|fetched|cus_pg`),
    );
    const again = await catchUp();
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ complete: true, stored: 0, duplicates: 3 });

    server = await startServer({ config, dir, env });
    await sink.waitFor("/billing", 3);
    await waitUntil(
      () => rows(url, "SELECT 1 FROM payhook.deliveries WHERE status <> 'done'").length === 0,
      15_000,
      "every delivery done",
    );
    expect(sink.requests).toHaveLength(3);
    const list = await runPayhook(["events", "list", "--json", "--config", file], { cwd: dir, env });
    expect(list.code).toBe(0);
    const listed = list.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(listed.map((e) => [e.id, e.source]).sort()).toEqual(missed.sort().map((id) => [id, "fetched"]));
  });

  test("background catch-up on two instances sharing the database: one of them runs it, through the lease row", async () => {
    fake = startFakeStripeApi(KEY);
    sink = await startSink();
    const url = cluster.url(cluster.createDatabase());
    const now = Math.floor(Date.now() / 1000);
    const missed = Array.from({ length: 4 }, (_, i) =>
      fake?.addEvent({ type: "invoice.paid", created: now - 3600 + i, data: { object: { id: `in_${i}` } } }),
    );
    const config = `listen: { host: 127.0.0.1, port: {{port}} }
store: \${DATABASE_URL}
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "${fake.apiBase}"
  catch_up: { every: 1h, window: 1d }
handlers:
  invoice.paid:
    - { name: invoices, forward: { url: "${sink.url}/invoices" } }
`;
    const env = { DATABASE_URL: url, STRIPE_API_KEY: KEY };
    // Both start at once and race for the lease; the other instance is stopped in `finally`.
    const [a, b] = await Promise.all([startServer({ config, env }), startServer({ config, env })]);
    server = a;
    try {
      await sink.waitFor("/invoices", missed.length);
      await waitUntil(
        () => rows(url, "SELECT 1 FROM payhook.deliveries WHERE status <> 'done'").length === 0,
        15_000,
        "every delivery done",
      );
      // A stop cancels a run in progress (the next start redoes it): let the run that stored them say it finished.
      const complete = () =>
        [...a.stderr, ...b.stderr].filter((line) => line.includes("background catch-up complete")).length;
      await waitUntil(() => complete() > 0, 15_000, "a catch-up run complete");
      expect(await a.stop()).toBe(0);
      expect(await b.stop()).toBe(0);
      server = undefined;
    } finally {
      await b.kill();
    }
    const runs = [...a.stderr, ...b.stderr].filter((line) => line.includes("background catch-up complete"));
    expect(runs).toHaveLength(1);
    expect(sink.requests).toHaveLength(missed.length);
    expect(rows(url, "SELECT name FROM payhook.leases")).toEqual(["catch-up"]);
    for (const line of [...a.stdout, ...a.stderr, ...b.stdout, ...b.stderr]) expect(line).not.toContain(SENTINEL);
  });

  test("the operator page lists, searches and groups the failures of events stored in PostgreSQL", async () => {
    const url = cluster.url(cluster.createDatabase());
    const adminPort = await freePort();
    server = await startServer({
      config: `listen: { host: 127.0.0.1, port: {{port}} }
store: \${DATABASE_URL}
admin: { port: ${adminPort}, token: "\${PAYHOOK_ADMIN_TOKEN}" }
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  payment_intent.succeeded:
    - { name: notify, exec: { command: ["/bin/sh", "-c", "exit 1"] } }
`,
      env: { DATABASE_URL: url, PAYHOOK_ADMIN_TOKEN: TOKEN },
    });
    const paid = event("payment_intent.succeeded");
    const other = event("payment_intent.succeeded", {
      data: { object: { id: "pi_other", object: "payment_intent", customer: "cus_someone_else" } },
    });
    for (const payload of [paid, other]) expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    await waitUntil(
      () => rows(url, "SELECT 1 FROM payhook.deliveries WHERE status = 'failed'").length === 2,
      15_000,
      "both deliveries failed",
    ).catch((error) => {
      throw new Error(`${error}: ${server?.stderr.join("\n")}`);
    });

    const admin = `http://127.0.0.1:${adminPort}`;
    const login = await fetch(`${admin}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: TOKEN }),
      redirect: "manual",
    });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const get = async (path: string) => {
      const response = await fetch(`${admin}${path}`, { headers: { cookie }, redirect: "manual" });
      expect(response.status).toBe(200);
      return response.text();
    };
    const events = await get("/");
    expect(events).toContain(idOf(paid));
    expect(events).toContain(idOf(other));
    // Search by customer id: the index PostgreSQL's migration added, and the ids ingest wrote.
    const found = await get("/?q=cus_someone_else");
    expect(found).toContain(idOf(other));
    expect(found).not.toContain(idOf(paid));
    const failures = await get("/failures");
    expect(failures).toContain("notify");
    expect(failures).toContain("/bin/sh exited with 1");
    expect(await get("/overview")).toContain("PostgreSQL");
    // No PostgreSQL text holds a NUL: one in the search or the cursor (typed or forged) matches nothing, and one in
    // an event id finds no event, rather than failing as an unavailable store.
    for (const path of ["/?q=%00", "/?q=cus_someone_else%00", "/?after=9999999999999.evt_%00"]) {
      expect(await get(path)).toContain("No events match.");
    }
    expect((await fetch(`${admin}/events/evt_%00`, { headers: { cookie } })).status).toBe(404);
    expect(await get("/")).toContain(idOf(paid));
    expect(server.stderr.join("\n")).not.toContain("operator page: request failed");
    expect(events + found + failures).not.toContain(TOKEN);
  });
});
