/**
 * End to end: an API-version upgrade in three commands against the fake of Stripe's API (`stripe endpoint
 * upgrade`, `stripe upgrade report`, `stripe endpoint cutover`) with one server, the old endpoint's secret
 * retiring after the cutover, and Connect: catch-up per connected account, `events list --account` and the
 * operator page's search by account.
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURE_API_VERSION, renderAtVersion } from "../../src/fixtures/versions.ts";
import { type FakeStripeApi, startFakeStripeApi } from "../helpers/fake-stripe-api.ts";
import { SENTINEL } from "../helpers/sentinels.ts";
import { freePort, type RunningServer, runPayhook, startServer, tempDir, waitUntil } from "../helpers/server.ts";
import { type Sink, startSink } from "../helpers/sink.ts";
import { deliver } from "../helpers/stripe.ts";

setDefaultTimeout(90_000);

const KEY = `sk_test_${SENTINEL}upgradekey`;
const OLD_VERSION = "2025-02-24.acacia";
const OLD_SECRET = "whsec_old";
const ADMIN_TOKEN = "sentinel-admin-token-upgrade-0123456789";
const DAY = 86_400_000;

const HANDLERS = `handlers:
  invoice.paid:
    - name: gate
      log: "gate {{id}}"
      when: { data.object.subscription: { exists: true } }
    - name: sync
      forward: { url: "{{sink}}/subs/{{data.object.subscription}}" }
    - name: count
      log: "ran {{id}} at {{api_version}}"
`;

function config(fake: FakeStripeApi, shadowSecret?: string): string {
  const shadow = shadowSecret
    ? `  - { path: /webhook/shadow, shadow_of: /webhook, secrets: ["${shadowSecret}"] }
admin: { port: ${adminPort}, token: "\${PAYHOOK_ADMIN_TOKEN}" }\n`
    : "";
  return `listen: { host: 127.0.0.1, port: {{port}} }
store: {{dir}}/payhook.db
endpoints:
  - path: /webhook
    secrets: ["${OLD_SECRET}"]
${shadow}stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "${fake.apiBase}"
${HANDLERS.replace("{{sink}}", sinkUrl)}`;
}

let sinkUrl = "";
let adminPort = 0;

/** The operator page's HTML at `path`, read with a session of the admin token. */
async function operatorPage(path: string): Promise<string> {
  const admin = `http://127.0.0.1:${adminPort}`;
  const login = await fetch(`${admin}/login`, {
    method: "POST",
    body: new URLSearchParams({ token: ADMIN_TOKEN }),
    redirect: "manual",
  });
  expect(login.status).toBe(303);
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const response = await fetch(`${admin}${path}`, { headers: { cookie } });
  expect(response.status).toBe(200);
  return response.text();
}

/** The same invoice.paid event in both renderings: the new (fixtures') one and the old one. */
function renderings(id: string): { next: string; old: string } {
  const event = {
    id,
    object: "event",
    api_version: FIXTURE_API_VERSION,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 2,
    request: { id: null, idempotency_key: null },
    type: "invoice.paid",
    data: {
      object: {
        id: `in_${id.slice(4)}`,
        object: "invoice",
        customer: "cus_1",
        parent: { type: "subscription_details", subscription_details: { subscription: "sub_42", metadata: {} } },
      },
    },
  };
  const old = structuredClone(event) as Record<string, unknown>;
  renderAtVersion(old, OLD_VERSION);
  return { next: JSON.stringify(event), old: JSON.stringify(old) };
}

describe("upgrading the API version with a shadow endpoint", () => {
  let fake: FakeStripeApi;
  let server: RunningServer;
  let dir: string;
  let shadowSecret: string;
  let sink: Sink;
  const env = { STRIPE_API_KEY: KEY, PAYHOOK_ADMIN_TOKEN: ADMIN_TOKEN };
  const file = () => join(dir, "payhook.yaml");
  const run = (args: string[]) => runPayhook([...args, "--config", file()], { env, cwd: dir });
  const ran = (id: string) => server.stdout.filter((l) => l.startsWith(`ran ${id} `));

  beforeAll(async () => {
    fake = startFakeStripeApi(KEY);
    fake.endpoints.push({
      id: "we_old",
      object: "webhook_endpoint",
      url: "https://pay.example.com/webhook",
      enabled_events: ["invoice.paid", "invoice.payment_failed"],
      status: "enabled",
      api_version: OLD_VERSION,
      description: null,
      livemode: false,
      metadata: {},
      created: 1,
    });
    dir = tempDir();
    adminPort = await freePort();
    sink = await startSink();
    sinkUrl = sink.url;
  });
  afterAll(async () => {
    await server?.stop();
    await sink.close();
    fake.stop();
  });

  test("upgrade creates the shadow endpoint and prints its secret once, storing it nowhere", async () => {
    writeFileSync(file(), config(fake).replace("{{port}}", "0").replaceAll("{{dir}}", dir));
    const result = await run(["stripe", "endpoint", "upgrade", "--api-version", FIXTURE_API_VERSION]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const made = fake.endpoints[1];
    expect(made?.url).toBe("https://pay.example.com/webhook/shadow");
    expect(made?.api_version).toBe(FIXTURE_API_VERSION);
    expect(made?.enabled_events).toEqual(["invoice.paid", "invoice.payment_failed"]);
    shadowSecret = /shown this once: (whsec_\w+)/.exec(result.stdout)?.[1] as string;
    expect(shadowSecret).toMatch(/^whsec_/);
    expect(result.stdout).toContain("shadow_of: /webhook");
    for (const name of readdirSync(dir)) expect(readFileSync(join(dir, name)).includes(shadowSecret)).toBe(false);
  });

  test("the report shows the renamed field a when: reads and the moved id in a template", async () => {
    server = await startServer({ dir, config: config(fake, shadowSecret), env });
    const e1 = renderings("evt_upgrade_one");
    expect((await deliver(`${server.url}/webhook`, e1.old, { secret: OLD_SECRET })).status).toBe(200);
    expect((await deliver(`${server.url}/webhook/shadow`, e1.next, { secret: shadowSecret })).status).toBe(200);
    await server.waitForStdout("ran evt_upgrade_one");
    const result = await run(["stripe", "upgrade", "report", "--json"]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      events: number;
      differences: { kind: string; type: string; what: string; live?: unknown; shadow?: unknown }[];
    };
    expect(report.events).toBe(1);
    const found = (kind: string, what: string) =>
      report.differences.find((d) => d.kind === kind && d.what === what && d.type === "invoice.paid");
    expect(found("when", "gate")).toMatchObject({ live: "runs" });
    // The URL built from the moved id: it renders with the old shape, and is refused (empty segment) with the new.
    expect(found("when", "sync")?.live).toBe("runs");
    expect(String(found("when", "sync")?.shadow)).toContain("rendered empty");
    expect(found("field_removed", "data.object.subscription")).toMatchObject({ live: "sub_42" });
    expect(found("field_added", "data.object.parent.subscription_details.subscription")).toBeDefined();
    const text = await run(["stripe", "upgrade", "report"]);
    expect(text.stdout).toContain("gate: when: outcome differs for 1 event");
    // The shadow's copy ran nothing: the one run is the live rendering's.
    expect(ran("evt_upgrade_one")).toEqual([`ran evt_upgrade_one at ${OLD_VERSION}`]);
  });

  test("explain --api-version renders the fixtures' older shape offline", async () => {
    const explain = (version: string) =>
      runPayhook(
        [
          "explain",
          "--trigger",
          "subscription.payment_succeeded",
          "--api-version",
          version,
          "--json",
          "--config",
          file(),
        ],
        {
          env,
          cwd: dir,
        },
      );
    const old = await explain(OLD_VERSION);
    expect(old.code).toBe(0);
    const gate = (text: string) =>
      (JSON.parse(text) as { events: { type: string; actions: { name: string; status: string }[] }[] }).events
        .find((e) => e.type === "invoice.paid")
        ?.actions.find((a) => a.name === "gate")?.status;
    expect(gate(old.stdout)).toBe("run");
    expect(gate((await explain(FIXTURE_API_VERSION)).stdout)).toBe("skipped");
    const future = await explain("2999-01-01.zebra");
    expect(future.code).toBe(2);
    expect(future.stderr).toContain("newer than the fixtures");
  });

  test("cutover disables the old endpoint, and then each event runs exactly once, from the new rendering", async () => {
    // Received only on the shadow before the cutover: the cutover runs it.
    const early = renderings("evt_upgrade_early");
    expect((await deliver(`${server.url}/webhook/shadow`, early.next, { secret: shadowSecret })).status).toBe(200);
    const result = await run(["stripe", "endpoint", "cutover", "--yes"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("1 event(s) received only there so far now run");
    expect(fake.endpoints[0]?.status).toBe("disabled");
    // The old endpoint's secret is retiring, and the operator is told what to remove and when.
    expect(result.stdout).toMatch(
      /\/webhook's secret 1: retiring since the cutover to \/webhook\/shadow: they verify until (\S+Z), then are refused; after that, remove the \/webhook endpoint and the shadow_of: \/webhook of \/webhook\/shadow from the config, then reload/,
    );
    await server.waitForStderr("API-version upgrade cut over");
    await server.waitForStderr("signing secrets are retiring");
    await server.waitForStdout("ran evt_upgrade_early");
    // Its old copy, late: kept apart.
    expect((await deliver(`${server.url}/webhook`, early.old, { secret: OLD_SECRET })).status).toBe(200);
    // Old copy first, then the new one; and the other way round.
    const a = renderings("evt_upgrade_oldfirst");
    await deliver(`${server.url}/webhook`, a.old, { secret: OLD_SECRET });
    await deliver(`${server.url}/webhook/shadow`, a.next, { secret: shadowSecret });
    const b = renderings("evt_upgrade_newfirst");
    await deliver(`${server.url}/webhook/shadow`, b.next, { secret: shadowSecret });
    await deliver(`${server.url}/webhook`, b.old, { secret: OLD_SECRET });
    // A retry of an event that ran before the cutover, on the now live path: a duplicate.
    const again = await deliver(`${server.url}/webhook/shadow`, renderings("evt_upgrade_one").next, {
      secret: shadowSecret,
    });
    expect(await again.json()).toEqual({ received: true, duplicate: true });
    await server.waitForStdout("ran evt_upgrade_oldfirst");
    await server.waitForStdout("ran evt_upgrade_newfirst");
    const list = await run(["events", "list", "--json", "--type", "invoice.paid"]);
    const events = list.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: string; deliveries: unknown[] });
    expect(events.map((e) => e.id).sort()).toEqual([
      "evt_upgrade_early",
      "evt_upgrade_newfirst",
      "evt_upgrade_oldfirst",
      "evt_upgrade_one",
    ]);
    for (const id of ["evt_upgrade_early", "evt_upgrade_oldfirst", "evt_upgrade_newfirst"]) {
      expect(ran(id)).toEqual([`ran ${id} at ${FIXTURE_API_VERSION}`]);
    }
    expect(ran("evt_upgrade_one")).toHaveLength(1);
  });

  test("the old endpoint's secret verifies Stripe's retries for three days after the cutover, says so, then is refused", async () => {
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
    const db = new Database(join(dir, "payhook.db"));
    db.exec("PRAGMA busy_timeout = 10000");
    try {
      const cutOverAt = (db.prepare("SELECT cut_over_at FROM upgrades").get() as { cut_over_at: number }).cut_over_at;
      const until = iso(cutOverAt + 3 * DAY);
      const rotation = await run(["check", "--rotation"]);
      expect(rotation.code).toBe(0);
      expect(rotation.stdout).toContain(
        `/webhook secret 1: retiring since the cutover to /webhook/shadow, verifies until ${until}; verified`,
      );
      expect(rotation.stdout).toContain("not yet safe to remove");
      expect(rotation.stderr).toContain("retiring secret 1 of /webhook may still verify Stripe's retries");
      expect((await run(["check", "--rotation", "--strict"])).code).toBe(2);
      const status = await run(["status"]);
      expect(status.stdout).toContain(
        `/webhook's secret 1: retiring since the cutover to /webhook/shadow: they verify until ${until}, then are refused`,
      );
      const json = JSON.parse((await run(["status", "--json"])).stdout) as { endpoints: Record<string, unknown>[] };
      expect(json.endpoints.find((e) => e.endpoint === "/webhook")).toMatchObject({
        secrets_retire_at: cutOverAt + 3 * DAY,
        secrets_retired: false,
      });
      expect(await operatorPage("/overview")).toContain(
        `its signing secrets are retiring: they verify Stripe's retries until <time>${until}</time>`,
      );
      // A retry of an event created before the shadow endpoint existed, signed with the old secret: it still runs.
      const before = JSON.parse(renderings("evt_upgrade_before").old) as { created: number };
      before.created -= 3_600;
      const retry = await deliver(`${server.url}/webhook`, JSON.stringify(before), { secret: OLD_SECRET });
      expect(retry.status).toBe(200);
      await server.waitForStdout("ran evt_upgrade_before");

      // Three days and an hour later (planted in the store): the window is over.
      db.prepare("UPDATE upgrades SET cut_over_at = cut_over_at - ?").run(3 * DAY + 3_600_000);
      const retiredAt = iso(cutOverAt - 3_600_000);
      const late = renderings("evt_upgrade_late").old;
      let refused = { status: 200, body: "" };
      await waitUntil(
        async () => {
          const r = await deliver(`${server.url}/webhook`, late, { secret: OLD_SECRET });
          refused = { status: r.status, body: await r.text() };
          return r.status !== 200;
        },
        15_000,
        "the old secret refused",
      );
      expect(refused.status).toBe(400);
      const error = (JSON.parse(refused.body) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe("secret_retired");
      expect(error.message).toContain(
        `secret 1 retired at ${retiredAt}, after the API-version cutover to /webhook/shadow`,
      );
      await server.waitForStderr(/"msg":"request refused".*"code":"secret_retired"/);
      await server.waitForStderr("signing secrets are retired: events signed with them are refused");
      // The new endpoint's secret is unaffected.
      const next = renderings("evt_upgrade_after").next;
      expect((await deliver(`${server.url}/webhook/shadow`, next, { secret: shadowSecret })).status).toBe(200);
      await server.waitForStdout("ran evt_upgrade_after");
      const after = await run(["check", "--rotation"]);
      expect(after.stdout).toContain(
        `/webhook secret 1: retired at ${retiredAt} (cutover to /webhook/shadow), events signed with it are refused: safe to remove: remove the /webhook endpoint and the shadow_of: /webhook of /webhook/shadow from the config, then reload`,
      );
      expect(after.stderr).not.toContain("may still verify");
      // The Overview shares one reading of the store for a couple of seconds: wait for one taken after the change.
      const retiredNote = `its signing secrets retired at <time>${retiredAt}</time>: events signed with them are refused; remove the /webhook endpoint`;
      await waitUntil(async () => (await operatorPage("/overview")).includes(retiredNote), 15_000, "the page's note");
    } finally {
      db.close();
    }
  });
});

describe("Connect platforms", () => {
  test("catch-up reads each connected account's events, and events list and the page's search filter by account", async () => {
    const fake = startFakeStripeApi(KEY);
    try {
      fake.accounts.push("acct_Alpha", "acct_Beta");
      const now = Math.floor(Date.now() / 1000);
      fake.addEvent({ id: "evt_platform", type: "invoice.paid", created: now - 60 });
      fake.addEvent({ id: "evt_alpha", type: "invoice.paid", created: now - 50, account: "acct_Alpha" });
      fake.addEvent({ id: "evt_beta", type: "invoice.paid", created: now - 40, account: "acct_Beta" });
      const dir = tempDir();
      const file = join(dir, "payhook.yaml");
      writeFileSync(
        file,
        `store: ./payhook.db
endpoints:
  - path: /webhook
    secrets: ["whsec_x"]
stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "${fake.apiBase}"
  accounts: all
handlers:
  invoice.paid:
    - log: "paid {{id}}"
`,
      );
      const env = { STRIPE_API_KEY: KEY };
      const caught = await runPayhook(["catch-up", "--since", "1h", "--json", "--config", file], { env, cwd: dir });
      expect(caught.code).toBe(0);
      expect(JSON.parse(caught.stdout)).toMatchObject({ stored: 3 });
      expect(fake.calls("/v1/events").filter((r) => r.account === "acct_Alpha").length).toBeGreaterThan(0);
      expect(fake.calls("/v1/events").filter((r) => r.account === "acct_Beta").length).toBeGreaterThan(0);
      const list = async (account: string) => {
        const r = await runPayhook(["events", "list", "--account", account, "--json", "--config", file], {
          env,
          cwd: dir,
        });
        return r.stdout
          .trim()
          .split("\n")
          .map((l) => (JSON.parse(l) as { id: string; account: string }).id);
      };
      expect(await list("acct_Alpha")).toEqual(["evt_alpha"]);
      expect(await list("acct_Beta")).toEqual(["evt_beta"]);

      // The operator page's search finds an account's events, and only those.
      adminPort = await freePort();
      const served = await startServer({
        dir,
        config: `listen: { host: 127.0.0.1, port: {{port}} }
store: ./payhook.db
endpoints:
  - path: /webhook
    secrets: ["whsec_x"]
admin: { port: ${adminPort}, token: "\${PAYHOOK_ADMIN_TOKEN}" }
handlers:
  invoice.paid:
    - log: "paid {{id}}"
`,
        env: { PAYHOOK_ADMIN_TOKEN: ADMIN_TOKEN },
      });
      try {
        const shown = async (q: string) => {
          const html = await operatorPage(q ? `/?q=${encodeURIComponent(q)}` : "/");
          return ["evt_platform", "evt_alpha", "evt_beta"].filter((id) => html.includes(`<code>${id}</code>`));
        };
        expect(await shown("")).toEqual(["evt_platform", "evt_alpha", "evt_beta"]);
        expect(await shown("acct_Alpha")).toEqual(["evt_alpha"]);
        expect(await shown("acct_Beta")).toEqual(["evt_beta"]);
        expect(await shown("acct_Nobody")).toEqual([]);
      } finally {
        await served.stop();
      }
    } finally {
      fake.stop();
    }
  });
});
