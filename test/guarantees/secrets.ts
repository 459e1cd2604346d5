/**
 * @module Secrets (E-6, B33 in docs/guarantees.md#test-ids): payhook runs with sentinel secrets (signing secrets, a forward
 * header token, a forward signing secret) through accepted, refused and failing traffic and `payhook check`;
 * stdout, stderr, every file in its folder (config aside) and the database hold none of them. A negative control
 * puts a sentinel where payhook must write it (an event's own body, printed by a log action), so the scan is
 * shown to find what is there. The scan is test/helpers/sentinels.ts, the one the crash and bad-input suites end
 * with, so this control covers theirs too. On PostgreSQL the database password is a sentinel too, and the scan
 * also covers /metrics, `payhook events` output, a start that fails on the database, and every database row.
 * The cases run on every store: secrets.test.ts (SQLite) and secrets-postgres.test.ts call secretsSuite().
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { scanForSentinels } from "../helpers/sentinels.ts";
import { type RunningServer, runPayhook, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import type { TestStore } from "../helpers/stores.ts";
import { deliver, event, idOf, sign } from "../helpers/stripe.ts";

const SENTINELS = {
  STRIPE_WEBHOOK_SECRET: "whsec_SENTINELcurrent0001",
  STRIPE_WEBHOOK_SECRET_PREVIOUS: "whsec_SENTINELprevious0002",
  SENTINEL_TOKEN: "SENTINELbearer0003",
  FORWARD_SECRET: "whsec_U0VOVElORUxmb3J3YXJkc2VjcmV0MDAwNA==",
  STRIPE_API_KEY: "rk_test_SENTINELapikey0006",
};
/** The database password, for stores that have one (the store's env carries it, inside the URL). */
export const DATABASE_PASSWORD = "SENTINELdatabase0005";
const NEEDLES = [...Object.values(SENTINELS), DATABASE_PASSWORD, "SENTINEL"];

/** Every sentinel occurrence in the texts and in the files of `dir` (the config file, which names them, aside). */
const scan = (texts: Record<string, string>, dir: string) => scanForSentinels(texts, dir, { needles: NEEDLES });

export function secretsSuite(store: TestStore): void {
  const CONFIG = (sink: string) =>
    testConfig(
      `stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "http://127.0.0.1:9"
handlers:
  payment_intent.succeeded:
    - name: notify
      forward:
        url: "${sink}/notify"
        timeout: 2s
        headers: { Authorization: "Bearer \${SENTINEL_TOKEN}" }
        sign: { secret: "\${FORWARD_SECRET}" }
unhandled:
  - name: line
    log: "unhandled {{type}} {{data.object.note}}"
retry: { attempts: 3, schedule: [10ms], jitter: 0 }
`,
      "${STRIPE_WEBHOOK_SECRET}",
    )
      .replace(
        'secrets: ["${STRIPE_WEBHOOK_SECRET}"]',
        'secrets: ["${STRIPE_WEBHOOK_SECRET}", "${STRIPE_WEBHOOK_SECRET_PREVIOUS}"]',
      )
      .replace("store: {{dir}}/payhook.db", `store: ${store.setting}`);

  const env = () => ({ ...SENTINELS, ...store.env });
  beforeAll(() => store.start(), 60_000);
  afterAll(() => store.close(), 30_000);

  let server: RunningServer | undefined;
  let sink: Sink | undefined;
  afterEach(async () => {
    await server?.kill();
    server = undefined;
    await sink?.close();
    sink = undefined;
  });

  describe("E-6 secrets never leave the config", () => {
    test("E-6 with sentinel secrets, stdout, stderr, log files and the database hold none of them", async () => {
      sink = await startSink();
      sink.plan("/notify", ["500", "reset", "200"]);
      await store.fresh();
      server = await startServer({ config: CONFIG(sink.url), env: env(), args: ["--log-level", "debug"] });
      const url = `${server.url}/webhook`;
      const secret = SENTINELS.STRIPE_WEBHOOK_SECRET;

      const good = event("payment_intent.succeeded");
      expect((await deliver(url, good, { secret })).status).toBe(200);
      const rolled = event("customer.created");
      expect((await deliver(url, rolled, { secret: SENTINELS.STRIPE_WEBHOOK_SECRET_PREVIOUS })).status).toBe(200);
      // Refusals of every kind: wrong secret, stale, future, malformed, missing, tampered.
      const bad = event("payment_intent.succeeded");
      const t = Math.floor(Date.now() / 1000);
      const refusals = [
        await deliver(url, bad, { secret: "whsec_wrong" }),
        await deliver(url, bad, { secret, timestamp: t - 3600 }),
        await deliver(url, bad, { secret, timestamp: t + 3600 }),
        await deliver(url, bad, { header: "t=abc,v1=zz" }),
        await fetch(url, { method: "POST", body: bad }),
        await deliver(url, bad.replace("2000", "1"), { header: await sign(bad, { secret }) }),
      ];
      const answers = await Promise.all(refusals.map((r) => r.text()));
      for (const r of refusals) expect(r.status).toBe(400);

      // The forward fails twice (500, reset) before it succeeds: error paths are logged and stored too.
      await sink.waitFor("/notify", 3);
      await server.waitForStdout("unhandled customer.created");
      await waitUntil(() => server?.stderr.some((l) => l.includes('"msg":"action done"')) ?? false);
      expect(sink.to("/notify")[0]?.headers.authorization).toBe(`Bearer ${SENTINELS.SENTINEL_TOKEN}`);
      const file = join(server.dir, "payhook.yaml");
      const check = await runPayhook(["check", "--config", file], { env: env() });
      expect(check.code).toBe(0);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('outcome="done"');
      const list = await runPayhook(["events", "list", "--json", "--config", file], { cwd: server.dir, env: env() });
      const show = await runPayhook(["events", "show", idOf(good), "--config", file], { cwd: server.dir, env: env() });
      expect(list.code).toBe(0);
      expect(show.code).toBe(0);
      expect(show.stdout).toContain(idOf(good));
      expect(await server.stop()).toBe(0);
      // A start that fails on the store (PostgreSQL: a database that does not exist) names it, without a secret.
      const failing = store.env.DATABASE_URL
        ? await runPayhook(["serve", "--config", file], {
            cwd: server.dir,
            env: { ...env(), DATABASE_URL: store.env.DATABASE_URL.replace(/\/(\w+)\?/, "/missing?") },
          })
        : { code: 1, stdout: "", stderr: "" };
      expect(failing.code).not.toBe(0);
      if (store.env.DATABASE_URL) expect(failing.stderr).toContain("postgres://payhook:***@127.0.0.1:"); // control

      const found = scan(
        {
          stdout: server.stdout.join("\n"),
          stderr: server.stderr.join("\n"),
          responses: answers.join("\n"),
          "check stdout": check.stdout,
          "check stderr": check.stderr,
          metrics,
          "events list": list.stdout + list.stderr,
          "events show": show.stdout + show.stderr,
          "failed start": failing.stdout + failing.stderr,
          ...(await store.dump()),
        },
        server.dir,
      );
      expect(found).toEqual([]);
      server = undefined;
    }, 60_000);

    test("E-6 negative control: a sentinel that payhook must write (an event's own field) is found by the same scan", async () => {
      sink = await startSink();
      await store.fresh();
      server = await startServer({ config: CONFIG(sink.url), env: env() });
      const payload = event("customer.created", { data: { object: { note: "SENTINELinsideTheEvent" } } });
      expect(
        (await deliver(`${server.url}/webhook`, payload, { secret: SENTINELS.STRIPE_WEBHOOK_SECRET })).status,
      ).toBe(200);
      await server.waitForStdout("unhandled customer.created SENTINELinsideTheEvent");
      expect(await server.stop()).toBe(0);
      const found = scan(
        { stdout: server.stdout.join("\n"), stderr: server.stderr.join("\n"), ...(await store.dump()) },
        server.dir,
      );
      expect(found).toContain("SENTINEL in stdout");
      expect(found.some((f) => store.where.test(f))).toBe(true);
      server = undefined;
    }, 60_000);
  });
}
