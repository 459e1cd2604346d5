/**
 * End to end on PostgreSQL, from the compiled binary: serve, /readyz, /metrics, `payhook events`, `check`, and
 * a database that cannot be used at start. One throwaway cluster (checking passwords) for the whole file.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type Cluster, startCluster } from "../helpers/postgres.ts";
import { type RunningServer, runPayhook, startServer, tempDir, waitUntil } from "../helpers/server.ts";
import { deliver, event, idOf, SECRET } from "../helpers/stripe.ts";

/** A sentinel: it must never be printed by payhook, whatever happens. */
const PASSWORD = "SENTINEL0pg0e2e0password";

let cluster: Cluster;
let databases = 0;
beforeAll(async () => {
  cluster = await startCluster({ passwords: true });
  cluster.psql(`CREATE ROLE payhook LOGIN PASSWORD '${PASSWORD}'`);
}, 60_000);
afterAll(() => cluster?.stop());

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

/** A fresh database owned by payhook, and the URL to it. */
function database(): string {
  databases += 1;
  const name = `e2e_${databases}`;
  cluster.psql(`CREATE DATABASE ${name} OWNER payhook`);
  return `postgres://payhook:${PASSWORD}@127.0.0.1:${cluster.port}/${name}?sslmode=disable`;
}

const config = `listen: { host: 127.0.0.1, port: {{port}} }
store: \${DATABASE_URL}
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  invoice.paid:
    - { name: note, log: "paid {{id}}" }
`;

function everything(...runs: { stdout: string; stderr: string }[]): string {
  return runs.map((r) => r.stdout + r.stderr).join("\n");
}

describe("PostgreSQL store", () => {
  test("serve stores, dedupes and delivers; readyz, metrics and events work; the password is never shown", async () => {
    const url = database();
    const env = { DATABASE_URL: url };
    server = await startServer({ config, env });
    expect(server.stderr.join("\n")).toContain(
      `postgres://payhook:***@127.0.0.1:${cluster.port}/e2e_${databases}?sslmode=disable`,
    );

    const paid = event("invoice.paid");
    const first = await deliver(`${server.url}/webhook`, paid);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ received: true });
    const again = await deliver(`${server.url}/webhook`, paid);
    expect(await again.json()).toEqual({ received: true, duplicate: true });
    await server.waitForStdout(`paid ${idOf(paid)}`);

    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('payhook_deliveries_total{action="note",outcome="done"} 1');
    expect(metrics).toContain('payhook_deliveries{status="pending"} 0');

    const dir = server.dir;
    const file = join(dir, "payhook.yaml");
    const list = await runPayhook(["events", "list", "--json", "--config", file], { cwd: dir, env });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout.trim())).toMatchObject({ id: idOf(paid), type: "invoice.paid" });
    const show = await runPayhook(["events", "show", idOf(paid), "--config", file], { cwd: dir, env });
    expect(show.code).toBe(0);
    expect(show.stdout).toContain("note");
    const replay = await runPayhook(["events", "replay", idOf(paid), "--config", file], { cwd: dir, env });
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain("re-queued 1 delivery of 1 event");
    await waitUntil(() => server?.stdout.filter((l) => l === `paid ${idOf(paid)}`).length === 2);
    const check = await runPayhook(["check", "--config", file], { cwd: dir, env });
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`store: postgres://payhook:***@127.0.0.1:${cluster.port}/`);

    expect(await server.stop()).toBe(0);
    expect(
      everything(list, show, replay, check, { stdout: server.stdout.join("\n"), stderr: server.stderr.join("\n") }),
    ).not.toContain(PASSWORD);
    expect(metrics).not.toContain(PASSWORD);
  });

  test("the database restarted under load: 503s while it is down, /readyz fails, then it reconnects by itself and delivers everything acknowledged", async () => {
    const url = database();
    server = await startServer({ config, env: { DATABASE_URL: url } });
    const running = server;
    const statuses = new Map<string, number>();
    let stop = false;
    const sender = async () => {
      while (!stop) {
        const payload = event("invoice.paid");
        try {
          const response = await deliver(`${running.url}/webhook`, payload);
          statuses.set(idOf(payload), response.status);
          await response.text();
        } catch {
          statuses.set(idOf(payload), 0);
        }
      }
    };
    const count = (status: number) => [...statuses.values()].filter((s) => s === status).length;
    const senders = Array.from({ length: 4 }, sender);
    let paused = false;
    try {
      await waitUntil(() => count(200) >= 40, 30_000, "40 events acknowledged before the restart");
      cluster.pause();
      paused = true;
      const ackedBefore = count(200);
      await waitUntil(() => count(503) >= 5, 30_000, "503s while the database is down").catch((error: Error) => {
        // What the server said meanwhile, for the report: the event lines are left out.
        const said = running.stderr.filter((l) => !/"msg":"(event accepted|action done)"/.test(l)).slice(-20);
        throw new Error(
          `${error.message}; ${count(200)} 200s, ${count(503)} 503s; the server said:\n${said.join("\n")}`,
        );
      });
      const ready = await fetch(`${running.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toContain("the store cannot be written");
      // The worker retries its claim every second while the database is down: logged once, not every second.
      await running.waitForStderr('"msg":"could not claim deliveries"', 30_000);
      cluster.resume();
      paused = false;
      await waitUntil(() => count(200) >= ackedBefore + 40, 30_000, "40 more events acknowledged after the restart");
    } finally {
      stop = true;
      await Promise.all(senders);
      // The later tests use the same cluster: never leave it stopped.
      if (paused) cluster.resume();
    }
    // Only 200s and 503s: never a 500, never a dropped connection, and the process is still the same one.
    expect(count(0)).toBe(0);
    expect(count(200) + count(503)).toBe(statuses.size);
    const acked = [...statuses].filter(([, s]) => s === 200).map(([id]) => id);
    for (const id of acked) await running.waitForStdout(`paid ${id}`, 30_000);
    // Readiness probes within a second share one check, so the first probe after the restart may still say 503.
    await waitUntil(async () => (await fetch(`${running.url}/readyz`)).status === 200, 15_000, "/readyz ready again");
    const recovered = JSON.parse(await running.waitForStderr('"what":"could not claim deliveries"')) as {
      msg: string;
      failures: number;
    };
    expect(recovered.msg).toBe("works again after failing");
    expect(recovered.failures).toBeGreaterThanOrEqual(1);
    // One line per outage, not one per try: every failure line is answered by one recovery line. (A connection
    // opened while the database was shutting down can fail once more after the restart: a second short outage.)
    const lines = (text: string) => running.stderr.filter((l) => l.includes(text)).length;
    await waitUntil(
      () => lines('"msg":"could not claim deliveries"') === lines('"what":"could not claim deliveries"'),
      15_000,
      "a recovery line for each claim failure line",
    );
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(
      /payhook_requests_total\{endpoint="\/webhook",outcome="failed",reason="store_unavailable"\} [1-9]/,
    );
    expect(await running.stop()).toBe(0);
  }, 120_000);

  test("a database that stops answering: webhooks get 503 after commit_timeout instead of hanging, and it goes on once it answers", async () => {
    const url = database();
    const frozenConfig = config.replace(
      "store: ${DATABASE_URL}",
      "store:\n  url: ${DATABASE_URL}\n  commit_timeout: 1s",
    );
    server = await startServer({ config: frozenConfig, env: { DATABASE_URL: url } });
    const first = event("invoice.paid");
    expect((await deliver(`${server.url}/webhook`, first)).status).toBe(200);
    const late = event("invoice.paid");
    cluster.freeze();
    try {
      // Every connection stays open and nothing answers, as in a network partition: no error ever comes back.
      const response = await deliver(`${server.url}/webhook`, late);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({
        error: { code: "store_unavailable", message: expect.stringContaining("did not commit the event within 1s") },
      });
    } finally {
      cluster.thaw();
    }
    // Stripe's retry: stored now (or found stored, if the stalled commit landed), and its action runs.
    expect((await deliver(`${server.url}/webhook`, late)).status).toBe(200);
    await server.waitForStdout(`paid ${idOf(late)}`, 15_000); // well within the 30 s lease: released at once
    await server.waitForStdout(`paid ${idOf(first)}`);
    expect(await server.stop()).toBe(0);
  }, 60_000);

  test.each([
    [
      "a wrong password",
      (port: number) => `postgres://payhook:wrong-${PASSWORD}@127.0.0.1:${port}/postgres`,
      /password authentication failed/,
    ],
    ["no such host", () => `postgres://payhook:${PASSWORD}@no-such-host.invalid:5432/payhook`, /no-such-host\.invalid/],
    ["a closed port", () => `postgres://payhook:${PASSWORD}@127.0.0.1:1/payhook`, /ECONNREFUSED/],
    [
      "TLS required but not offered",
      (port: number) => `postgres://payhook:${PASSWORD}@127.0.0.1:${port}/postgres?sslmode=require`,
      /SSL|TLS/i,
    ],
  ])(
    "a database that cannot be used at start (%s): exit 1 with the reason, never the password",
    async (_, url, reason) => {
      const dir = tempDir();
      const { writeFileSync } = await import("node:fs");
      writeFileSync(join(dir, "payhook.yaml"), config.replace("{{port}}", "0"));
      const run = await runPayhook(["serve", "--config", join(dir, "payhook.yaml")], {
        cwd: dir,
        env: { DATABASE_URL: url(cluster.port) },
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/cannot use the PostgreSQL store postgres:\/\/payhook:\*\*\*@/);
      expect(run.stderr).toMatch(reason);
      expect(run.stdout + run.stderr).not.toContain(PASSWORD);
    },
  );

  test("a password with @ / ? or #: the listening line, check, config and store errors never show any of it", async () => {
    // Whatever follows the @ is a sentinel of its own: the old label showed the text after the first @.
    const secret = "SENTINEL0at0pw";
    cluster.psql(`CREATE ROLE odd LOGIN PASSWORD 'p@${secret}'`);
    const name = "odd_at";
    cluster.psql(`CREATE DATABASE ${name} OWNER odd`);
    const raw = (password: string, db = name) => `postgres://odd:${password}@127.0.0.1:${cluster.port}/${db}`;
    const dir = tempDir();
    const { writeFileSync } = await import("node:fs");
    const file = join(dir, "payhook.yaml");
    writeFileSync(file, config.replace("{{port}}", "0"));
    const runs = [];

    // An unencoded @ parses, and payhook connects with it.
    server = await startServer({ config, env: { DATABASE_URL: raw(`p@${secret}`) } });
    const listening = server.stderr.find((l) => l.includes('"msg":"listening"')) ?? "";
    expect(listening).toContain(`postgres://odd:***@127.0.0.1:${cluster.port}/${name}`);
    expect(await server.stop()).toBe(0);
    const check = await runPayhook(["check", "--config", file], {
      cwd: dir,
      env: { DATABASE_URL: raw(`p@${secret}`) },
    });
    expect(check.code).toBe(0);
    expect(check.stdout).toContain("store: postgres://odd:***@127.0.0.1:");
    const missing = await runPayhook(["serve", "--config", file], {
      cwd: dir,
      env: { DATABASE_URL: raw(`p@${secret}`, "missing") },
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("postgres://odd:***@127.0.0.1:");
    runs.push(check, missing, { stdout: "", stderr: server.stderr.join("\n") });

    // A / ? or # cuts the URL short: nothing of it is shown, and the error says how to write it.
    for (const password of [`a/${secret}`, `a?${secret}`, `a#${secret}`, `a:1/${secret}`]) {
      const checked = await runPayhook(["check", "--config", file], { cwd: dir, env: { DATABASE_URL: raw(password) } });
      expect(checked.code).not.toBe(0);
      expect(checked.stdout + checked.stderr).toContain("percent-encode");
      const listed = await runPayhook(["events", "list", "--store", raw(password)], { cwd: dir });
      expect(listed.code).not.toBe(0);
      expect(listed.stderr).toContain("percent-encode");
      runs.push(checked, listed);
    }
    expect(everything(...runs)).not.toContain(secret);
  }, 30_000);

  test("events list and show never migrate: a schema of the previous version stays as it is, and the error names the payhook that reads it", async () => {
    const url = database();
    const dir = tempDir();
    const { writeFileSync } = await import("node:fs");
    const file = join(dir, "payhook.yaml");
    writeFileSync(file, config.replace("{{port}}", "0"));
    server = await startServer({ config, env: { DATABASE_URL: url } });
    expect(await server.stop()).toBe(0);
    server = undefined;
    const db = url.replace(/.*\/(\w+)\?.*/, "$1");
    const versions = () =>
      cluster.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM payhook.schema_version", db);
    const latest = versions().split(",").length;
    // As a server of the previous version left it.
    cluster.psql(
      `DELETE FROM payhook.schema_version WHERE version = ${latest}; UPDATE payhook.schema_version SET payhook = '0.0.9'`,
      db,
    );
    const before = versions();
    for (const args of [["list"], ["show", "evt_x"]]) {
      const read = await runPayhook(["events", ...args, "--config", file], { cwd: dir, env: { DATABASE_URL: url } });
      expect(read.code).toBe(1);
      expect(read.stderr).toContain(`is at version ${latest - 1}, migrated by payhook 0.0.9`);
      expect(read.stderr).toContain("run payhook 0.0.9 to read it");
    }
    expect(versions()).toBe(before);
  });
});
