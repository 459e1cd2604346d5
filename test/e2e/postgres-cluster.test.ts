/**
 * End to end: three dist/payhook instances on one PostgreSQL database, forwarding to a recording sink. Events
 * spread over the instances, a share sent to two at once, then kill -9 of one instance while its deliveries
 * run: nothing acknowledged is lost, every event is stored once, and only the deliveries in flight at the kill
 * reach the sink twice, taken over by the others once their lease runs out, with no operator action.
 * Also: exec's `concurrency` is per instance, and a config rolled across two instances: each delivery runs on an
 * instance that has its action's version. One throwaway cluster for the file.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { type Cluster, startCluster } from "../helpers/postgres.ts";
import { type RunningServer, startServer, tempDir, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { deliver, event, idOf, SECRET } from "../helpers/stripe.ts";

let cluster: Cluster;
let databases = 0;
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(() => cluster?.stop());

const servers: RunningServer[] = [];
let sink: Sink | undefined;
afterEach(async () => {
  for (const s of servers.splice(0)) await s.kill();
  await sink?.close();
  sink = undefined;
});

function database(): string {
  databases += 1;
  const name = `cluster_${databases}`;
  cluster.psql(`CREATE DATABASE ${name}`);
  return cluster.url(name);
}

async function instances(count: number, config: string, url: string): Promise<RunningServer[]> {
  // One at a time, so that one migrates and the others find the schema ready (racing starts are a contract case).
  for (let i = 0; i < count; i++) servers.push(await startServer({ config, env: { DATABASE_URL: url } }));
  return [...servers];
}

function pidOf(server: RunningServer): number {
  const line = server.stderr.find((l) => l.includes('"msg":"listening"')) ?? "{}";
  return (JSON.parse(line) as { pid: number }).pid;
}

describe("three instances on one database", () => {
  test("kill -9 of one instance mid-delivery: 0 lost, each event stored once, repeats only for deliveries in flight", async () => {
    const url = database();
    const db = postgres(url, { max: 1, onnotice: () => {} });
    try {
      sink = await startSink();
      const config = `listen: { host: 127.0.0.1, port: {{port}} }
store: { url: "\${DATABASE_URL}", lease: 2s }
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  "*":
    - name: sink
      forward: { url: "${sink.url}/hook", timeout: 60s }
retry: { attempts: 5, schedule: [100ms], jitter: 0 }
`;
      // Every forward hangs until released, so deliveries are running on every instance when one is killed.
      sink.plan("/hook", ["hang"]);
      const [a, b, c] = await instances(3, config, url);
      if (!a || !b || !c) throw new Error("three instances did not start");
      const all = [a, b, c];

      const payloads = Array.from({ length: 90 }, () => event("payment_intent.succeeded"));
      const responses = await Promise.all(
        payloads.flatMap((payload, i) => {
          const first = all[i % 3] as RunningServer;
          const sends = [deliver(`${first.url}/webhook`, payload).then(async (r) => [i, r.status, await r.text()])];
          // Every fifth event also goes to the next instance at the same moment.
          if (i % 5 === 0) {
            const second = all[(i + 1) % 3] as RunningServer;
            sends.push(deliver(`${second.url}/webhook`, payload).then(async (r) => [i, r.status, await r.text()]));
          }
          return sends;
        }),
      );
      expect(responses.every(([, status]) => status === 200)).toBe(true);
      for (let i = 0; i < payloads.length; i += 5) {
        const bodies = responses.filter(([n]) => n === i).map(([, , body]) => JSON.parse(String(body)));
        expect(bodies.filter((body) => body.duplicate === true)).toHaveLength(1);
      }

      // Wait until the instance to be killed is running deliveries (its forwards hang at the sink).
      const victim = `%:${pidOf(a)}`;
      const running = async () =>
        (
          await db`SELECT e.id FROM payhook.deliveries d JOIN payhook.events e ON e.id = d.event_id
                   WHERE d.status = 'running' AND d.lease_owner LIKE ${victim}`
        ).map((r) => String(r.id));
      await waitUntil(async () => (await running()).length > 0, 15_000, "deliveries running on the first instance");
      // The sink answers from now on; what the victim holds at the kill is what may reach the sink twice.
      sink.plan("/hook", ["200"]);
      const inFlight = new Set(await running());
      await a.kill();
      servers.splice(servers.indexOf(a), 1);
      sink.release("200");

      // No operator action: the other two take over the victim's deliveries once their lease has run out.
      await waitUntil(
        async () => Number((await db`SELECT count(*) AS n FROM payhook.deliveries WHERE status <> 'done'`)[0]?.n) === 0,
        30_000,
        "every delivery done",
      );
      const stored = (await db`SELECT id FROM payhook.events`).map((r) => String(r.id));
      expect(stored.sort()).toEqual(payloads.map(idOf).sort());
      expect(Number((await db`SELECT count(*) AS n FROM payhook.deliveries`)[0]?.n)).toBe(payloads.length);

      const seen = new Map<string, number>();
      for (const request of sink.to("/hook")) {
        const id = (JSON.parse(new TextDecoder().decode(request.body)) as { id: string }).id;
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      for (const id of payloads.map(idOf)) expect(seen.get(id) ?? 0).toBeGreaterThanOrEqual(1);
      const repeated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
      console.log(
        `3 instances, kill -9 of one: ${payloads.length} events acked, ${stored.length} stored, 0 lost, ${inFlight.size} in flight on the killed instance, ${repeated.length} repeated at the sink`,
      );
      expect(inFlight.size).toBeGreaterThan(0);
      expect(repeated.filter((id) => !inFlight.has(id))).toEqual([]);
      // The victim's claims were taken over: their last attempt was made by another instance.
      const finishers = await db`SELECT DISTINCT a.instance FROM payhook.attempts a JOIN payhook.deliveries d
        ON d.id = a.delivery_id WHERE d.event_id = ANY(${[...inFlight]})`;
      expect(finishers.map((r) => String(r.instance)).some((i) => i.endsWith(`:${pidOf(a)}`))).toBe(false);
      const takeovers = [b, c].flatMap((s) => s.stderr).filter((l) => l.includes("took over deliveries"));
      expect(takeovers.length).toBeGreaterThan(0);
    } finally {
      await db.end({ timeout: 1 });
    }
  }, 120_000);

  test("exec concurrency is per instance: each instance runs at most that many at once", async () => {
    const url = database();
    const dir = tempDir();
    const script = join(dir, "record.sh");
    // The action records its start and end with the pid of the payhook that ran it, and takes a moment.
    writeFileSync(
      script,
      `#!/bin/sh\necho "start $PPID" >> ${dir}/runs.log\nsleep 0.2\necho "end $PPID" >> ${dir}/runs.log\n`,
      { mode: 0o755 },
    );
    const config = `listen: { host: 127.0.0.1, port: {{port}} }
store: \${DATABASE_URL}
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  "*":
    - name: one-at-a-time
      exec: { command: ["${script}"], concurrency: 1 }
`;
    const [a, b] = await instances(2, config, url);
    if (!a || !b) throw new Error("two instances did not start");
    const payloads = Array.from({ length: 12 }, () => event("invoice.paid"));
    await Promise.all(payloads.map((p, i) => deliver(`${(i % 2 ? a : b).url}/webhook`, p)));
    const lines = () => {
      try {
        return readFileSync(join(dir, "runs.log"), "utf8").trim().split("\n");
      } catch {
        return [];
      }
    };
    await waitUntil(() => lines().filter((l) => l.startsWith("end")).length === payloads.length, 30_000, "all runs");
    const runningNow = new Map<string, number>();
    const most = new Map<string, number>();
    for (const line of lines()) {
      const [what, pid = ""] = line.split(" ");
      const now = (runningNow.get(pid) ?? 0) + (what === "start" ? 1 : -1);
      runningNow.set(pid, now);
      most.set(pid, Math.max(most.get(pid) ?? 0, now));
    }
    for (const [, peak] of most) expect(peak).toBe(1);
  }, 60_000);

  test("a config rolled across two instances: each delivery runs where its action version is, none fails or goes astray", async () => {
    const url = database();
    const db = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const target = await startSink();
      sink = target;
      const config = (actions: string) => `listen: { host: 127.0.0.1, port: {{port}} }
store: \${DATABASE_URL}
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  "*":
${actions}
retry: { attempts: 20, schedule: [50ms], jitter: 0 }
`;
      const v1 = config(`    - name: notify
      forward: { url: "${target.url}/v1" }`);
      // The same action name with other settings, and an action v1 does not have.
      const v2 = config(`    - name: notify
      forward: { url: "${target.url}/v2" }
    - name: newact
      forward: { url: "${target.url}/new" }`);
      // Every first attempt fails, so each delivery's retries wait in the shared queue for any instance to claim.
      for (const path of ["/v1", "/v2", "/new"]) target.plan(path, [...Array(20).fill("500"), "200"]);
      const old = await startServer({ config: v1, env: { DATABASE_URL: url } });
      servers.push(old);
      const rolled = await startServer({ config: v2, env: { DATABASE_URL: url } });
      servers.push(rolled);
      const toOld = Array.from({ length: 10 }, () => event("invoice.paid"));
      const toRolled = Array.from({ length: 10 }, () => event("invoice.paid"));
      const sent = await Promise.all([
        ...toOld.map((p) => deliver(`${old.url}/webhook`, p)),
        ...toRolled.map((p) => deliver(`${rolled.url}/webhook`, p)),
      ]);
      expect(sent.map((r) => r.status)).toEqual(Array(20).fill(200));
      const open = async () =>
        Number((await db`SELECT count(*) AS n FROM payhook.deliveries WHERE status IN ('pending', 'running')`)[0]?.n);
      await waitUntil(async () => (await open()) === 0, 30_000, "every delivery finished");
      const statuses = await db`SELECT action, status, last_error FROM payhook.deliveries WHERE status <> 'done'`;
      expect(statuses.map((r) => ({ ...r }))).toEqual([]);

      // Each event reached exactly the actions of the config that stored it, and only those.
      const ids = (path: string) =>
        new Set(target.to(path).map((r) => (JSON.parse(new TextDecoder().decode(r.body)) as { id: string }).id));
      expect([...ids("/v1")].sort()).toEqual(toOld.map(idOf).sort());
      expect([...ids("/v2")].sort()).toEqual(toRolled.map(idOf).sort());
      expect([...ids("/new")].sort()).toEqual(toRolled.map(idOf).sort());
      const retried = await db`SELECT count(*) AS n FROM payhook.attempts WHERE status = 'pending'`;
      expect(Number(retried[0]?.n)).toBeGreaterThanOrEqual(20);
      const errors = await db`SELECT DISTINCT error FROM payhook.attempts WHERE error IS NOT NULL`;
      expect(errors.map((r) => String(r.error)).filter((e) => !e.includes("500"))).toEqual([]);

      // The rollout ends: the old instance restarts with the new config, and runs the new actions too.
      expect(await old.stop()).toBe(0);
      servers.splice(servers.indexOf(old), 1);
      const restarted = await startServer({ config: v2, env: { DATABASE_URL: url } });
      servers.push(restarted);
      const after = event("invoice.paid");
      expect((await deliver(`${restarted.url}/webhook`, after)).status).toBe(200);
      await waitUntil(async () => (await open()) === 0, 15_000, "the new event's deliveries done");
      expect(ids("/new").has(idOf(after)) && ids("/v2").has(idOf(after))).toBe(true);
      expect(ids("/v1").has(idOf(after))).toBe(false);
    } finally {
      await db.end({ timeout: 1 });
    }
  }, 60_000);
});
