/**
 * End to end on PostgreSQL: two instances serve one database with the same alert rules and channels; each
 * incident change reaches each channel exactly once, whichever instance saw it first; the database going away is
 * told directly by each instance, once, and again when it is back.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { type Cluster, SUPERUSER_PASSWORD, startCluster } from "../helpers/postgres.ts";
import { type RunningServer, startServer, waitUntil } from "../helpers/server.ts";
import { startSink } from "../helpers/sink.ts";
import { deliver, event, SECRET } from "../helpers/stripe.ts";

setDefaultTimeout(60_000);

let cluster: Cluster;
beforeAll(async () => {
  // With a password in the URL: no notification or log may show it.
  cluster = await startCluster({ passwords: true });
}, 60_000);
afterAll(() => cluster?.stop());

test("two instances on one PostgreSQL notify each incident once per channel", async () => {
  const sink = await startSink();
  sink.plan("/ship", ["500"]);
  const env = { DATABASE_URL: cluster.url(cluster.createDatabase()) };
  const config = `listen: { host: 127.0.0.1, port: {{port}} }
store: \${DATABASE_URL}
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  payment_intent.succeeded:
    - { name: ship, forward: { url: "${sink.url}/ship" } }
retry: { attempts: 2, schedule: [100ms], jitter: 0 }
alerts:
  interval: 100ms
  notify:
    - { name: ops, slack: { url: "${sink.url}/slack" } }
    - { name: pager, webhook: { url: "${sink.url}/hook" } }
  rules:
    failing: { failures: 4 }
`;
  const servers: RunningServer[] = [];
  try {
    servers.push(await startServer({ config, env }), await startServer({ config, env }));
    // Both instances take events, so both see the failures and the dead deliveries.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        deliver(`${servers[i % 2]?.url}/webhook`, event("payment_intent.succeeded")),
      ),
    );
    const hook = () =>
      sink.to("/hook").map(
        (r) =>
          JSON.parse(new TextDecoder().decode(r.body)) as {
            id: string;
            rule: string;
            state: string;
            summary: string;
          },
      );
    await waitUntil(() => ["dead", "failing"].every((rule) => hook().some((b) => b.rule === rule)), 20_000, "notified");
    // The deliveries recover and are replayed away: the incidents resolve.
    sink.plan("/ship", ["200"]);
    await Promise.all(
      Array.from({ length: 2 }, () => deliver(`${servers[0]?.url}/webhook`, event("payment_intent.succeeded"))),
    );
    await waitUntil(() => hook().some((b) => b.rule === "failing" && b.state === "resolved"), 20_000, "resolved");
    // Both instances keep evaluating for a while: nothing is sent twice.
    await Bun.sleep(1_000);
    const sent = hook().map((b) => `${b.rule}:${b.id}:${b.state}`);
    expect(new Set(sent).size).toBe(sent.length);
    expect(sent.filter((s) => s.startsWith("dead:") && s.endsWith(":open"))).toHaveLength(1);
    expect(sent.filter((s) => s.startsWith("failing:") && s.endsWith(":open"))).toHaveLength(1);
    expect(sent.filter((s) => s.startsWith("failing:") && s.endsWith(":resolved"))).toHaveLength(1);
    const slack = sink.to("/slack").map((r) => JSON.parse(new TextDecoder().decode(r.body)).text as string);
    expect(slack.filter((t) => t.startsWith("[payhook] ALERT dead:"))).toHaveLength(1);
    expect(slack.filter((t) => t.startsWith("[payhook] ALERT failing:"))).toHaveLength(1);

    // The database goes away: there is nowhere to queue, so each instance tells the channels itself, once, and
    // again once the database is back.
    const store = (state: string) => hook().filter((b) => b.rule === "store" && b.state === state);
    cluster.pause();
    try {
      await waitUntil(() => store("open").length === 2, 20_000, "store unavailable told by both instances");
    } finally {
      cluster.resume();
    }
    await waitUntil(() => store("resolved").length === 2, 20_000, "store available again told by both instances");
    const [down] = sink.to("/hook").filter((r) => new TextDecoder().decode(r.body).includes('"rule":"store"'));
    const body = JSON.parse(new TextDecoder().decode(down?.body)) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["count", "details", "id", "opened_at", "rule", "state", "summary"]);
    expect(String(body.summary)).toMatch(/^the store is unavailable on /);
    expect(String(body.details)).not.toContain(SUPERUSER_PASSWORD);
    expect(store("resolved")[0]?.summary).toMatch(/^the store is available again on /);
    await waitUntil(
      () => sink.to("/slack").filter((r) => new TextDecoder().decode(r.body).includes("RESOLVED store")).length === 2,
      5_000,
      "slack told too",
    );
    for (const s of servers) expect(s.stderr.join("\n")).not.toContain(SUPERUSER_PASSWORD);
  } finally {
    await Promise.all(servers.map((s) => s.kill()));
    await sink.close();
  }
});
