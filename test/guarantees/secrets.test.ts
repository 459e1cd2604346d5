/**
 * @module Secrets (reliability notes E-6, B33): payhook runs with sentinel secrets (signing secrets, a forward
 * header token, a forward signing secret) through accepted, refused and failing traffic and `payhook check`;
 * stdout, stderr, every file in its folder (config aside) and the database hold none of them. A negative control
 * puts a sentinel where payhook must write it (an event's own body, printed by a log action), so the scan is
 * shown to find what is there. The scan is test/helpers/sentinels.ts, the one the crash and bad-input suites end
 * with, so this control covers theirs too.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { scanForSentinels } from "../helpers/sentinels.ts";
import { type RunningServer, runPayhook, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { deliver, event, sign } from "../helpers/stripe.ts";

const SENTINELS = {
  STRIPE_WEBHOOK_SECRET: "whsec_SENTINELcurrent0001",
  STRIPE_WEBHOOK_SECRET_PREVIOUS: "whsec_SENTINELprevious0002",
  SENTINEL_TOKEN: "SENTINELbearer0003",
  FORWARD_SECRET: "whsec_U0VOVElORUxmb3J3YXJkc2VjcmV0MDAwNA==",
  STRIPE_API_KEY: "rk_test_SENTINELapikey0005",
};
const NEEDLES = [...Object.values(SENTINELS), "SENTINEL"];

/** Every sentinel occurrence in the texts and in the files of `dir` (the config file, which names them, aside). */
const scan = (texts: Record<string, string>, dir: string) => scanForSentinels(texts, dir, { needles: NEEDLES });

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
  ).replace(
    'secrets: ["${STRIPE_WEBHOOK_SECRET}"]',
    'secrets: ["${STRIPE_WEBHOOK_SECRET}", "${STRIPE_WEBHOOK_SECRET_PREVIOUS}"]',
  );

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
    server = await startServer({ config: CONFIG(sink.url), env: SENTINELS, args: ["--log-level", "debug"] });
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
    const check = await runPayhook(["check", "--config", join(server.dir, "payhook.yaml")], { env: SENTINELS });
    expect(check.code).toBe(0);
    expect(await server.stop()).toBe(0);

    const found = scan(
      {
        stdout: server.stdout.join("\n"),
        stderr: server.stderr.join("\n"),
        responses: answers.join("\n"),
        "check stdout": check.stdout,
        "check stderr": check.stderr,
      },
      server.dir,
    );
    expect(found).toEqual([]);
    server = undefined;
  }, 60_000);

  test("E-6 negative control: a sentinel that payhook must write (an event's own field) is found by the same scan", async () => {
    sink = await startSink();
    server = await startServer({ config: CONFIG(sink.url), env: SENTINELS });
    const payload = event("customer.created", { data: { object: { note: "SENTINELinsideTheEvent" } } });
    expect((await deliver(`${server.url}/webhook`, payload, { secret: SENTINELS.STRIPE_WEBHOOK_SECRET })).status).toBe(
      200,
    );
    await server.waitForStdout("unhandled customer.created SENTINELinsideTheEvent");
    expect(await server.stop()).toBe(0);
    const found = scan({ stdout: server.stdout.join("\n"), stderr: server.stderr.join("\n") }, server.dir);
    expect(found).toContain("SENTINEL in stdout");
    expect(found.some((f) => /^SENTINEL in payhook\.db/.test(f))).toBe(true);
    server = undefined;
  }, 60_000);
});
