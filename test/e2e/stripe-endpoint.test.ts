/**
 * End to end: the webhook endpoint at Stripe made from the handler map (`payhook stripe endpoint create|sync|list`)
 * and checked against it (`payhook check --stripe`), against a local fake of Stripe's API.
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Stripe from "stripe";
import { SNAPSHOT_EVENT_TYPES } from "../../src/catalog/event-types.ts";
import { type FakeStripeApi, type FakeWebhookEndpoint, startFakeStripeApi } from "../helpers/fake-stripe-api.ts";
import { SENTINEL } from "../helpers/sentinels.ts";
import { runPayhook, tempDir } from "../helpers/server.ts";

// Each test runs several payhook commands; under `deno run` (make test-deno) each one starts in seconds.
setDefaultTimeout(90_000);

const TEST_KEY = `sk_test_${SENTINEL}endpointkey`;
const LIVE_KEY = `rk_live_${SENTINEL}endpointkey`;

let fake: FakeStripeApi;
afterEach(() => fake.stop());

function configFile(handlers: string, key = TEST_KEY): { dir: string; file: string; env: Record<string, string> } {
  const dir = tempDir();
  const file = join(dir, "payhook.yaml");
  writeConfig(file, handlers);
  return { dir, file, env: { STRIPE_API_KEY: key, STRIPE_WEBHOOK_SECRET: "whsec_current" } };
}

function writeConfig(file: string, handlers: string): void {
  writeFileSync(
    file,
    `store: ./payhook.db
endpoints:
  - path: /webhook
    secrets: ["\${STRIPE_WEBHOOK_SECRET}"]
stripe:
  api_key: "\${STRIPE_API_KEY}"
  api_base: "${fake.apiBase}"
${handlers}`,
  );
}

const MAP = `handlers:
  payment_intent.succeeded:
    - log: "paid {{data.object.id}}"
  "invoice.*":
    - log: "invoice {{type}}"
`;

function existing(fields: Partial<FakeWebhookEndpoint>): FakeWebhookEndpoint {
  const endpoint: FakeWebhookEndpoint = {
    id: `we_${fake.endpoints.length + 1}existing`,
    object: "webhook_endpoint",
    url: "https://pay.example.com/webhook",
    enabled_events: ["payment_intent.succeeded"],
    status: "enabled",
    api_version: Stripe.API_VERSION,
    description: null,
    livemode: false,
    metadata: {},
    created: 1,
    ...fields,
  };
  fake.endpoints.push(endpoint);
  return endpoint;
}

const payhook = (setup: { dir: string; file: string; env: Record<string, string> }, args: string[], stdin?: string) =>
  runPayhook([...args, "--config", setup.file], { cwd: setup.dir, env: setup.env, ...(stdin ? { stdin } : {}) });

describe("payhook stripe endpoint and check --stripe", () => {
  beforeEach(() => {
    fake = startFakeStripeApi(TEST_KEY);
  });

  test("create makes the endpoint from the map, prints its secret once, and check --stripe then finds no mismatch", async () => {
    const setup = configFile(MAP);
    const before = readFileSync(setup.file, "utf8");
    const made = await payhook(setup, ["stripe", "endpoint", "create", "--url", "https://pay.example.com/webhook"]);
    expect(made.code).toBe(0);
    expect(fake.endpoints).toHaveLength(1);
    const endpoint = fake.endpoints[0] as FakeWebhookEndpoint;
    const invoices = SNAPSHOT_EVENT_TYPES.filter((t) => t.startsWith("invoice."));
    expect(invoices.length).toBeGreaterThan(5);
    expect(endpoint.enabled_events.sort()).toEqual(["payment_intent.succeeded", ...invoices].sort());
    expect(endpoint.api_version).toBe(Stripe.API_VERSION);
    expect(endpoint.description).toContain("payhook");
    const secret = /Its signing secret, shown this once: (whsec_\w+)/.exec(made.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(made.stdout).toContain("STRIPE_WEBHOOK_SECRET=");
    // Never written into the config.
    expect(readFileSync(setup.file, "utf8")).toBe(before);

    const checked = await payhook(setup, ["check", "--stripe", "--strict"]);
    expect(checked.stderr).not.toContain("stripe endpoint");
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain(`${endpoint.id} https://pay.example.com/webhook: matches the handler map`);

    const listed = await payhook(setup, ["stripe", "endpoint", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${endpoint.id}  enabled  https://pay.example.com/webhook`);
    expect(listed.stdout).toContain("(this config)");
    for (const text of [made.stdout, made.stderr, checked.stdout, checked.stderr, listed.stdout]) {
      expect(text).not.toContain(SENTINEL);
    }
  });

  test("create --connect makes the Connect endpoint, and prints its secret only where documented, for its own variable", async () => {
    const setup = configFile(MAP);
    writeFileSync(
      setup.file,
      readFileSync(setup.file, "utf8").replace(
        "stripe:",
        `  - path: /connect
    secrets: ["\${STRIPE_CONNECT_WEBHOOK_SECRET:-whsec_unset}"]
stripe:`,
      ),
    );
    const before = readFileSync(setup.file, "utf8");
    const made = await payhook(setup, [
      "stripe",
      "endpoint",
      "create",
      "--connect",
      "--url",
      "https://pay.example.com/connect",
    ]);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
    const posts = fake.calls("/v1/webhook_endpoints").filter((r) => r.method === "POST");
    expect(posts).toHaveLength(1);
    expect(posts[0]?.form.get("connect")).toBe("true");
    expect(posts[0]?.form.get("url")).toBe("https://pay.example.com/connect");
    const endpoint = fake.endpoints[0] as FakeWebhookEndpoint;
    expect(endpoint.connect).toBe(true);
    expect(made.stdout).toContain(`created ${endpoint.id} (Connect: the events of connected accounts)`);
    const secret = /Its signing secret, shown this once: (whsec_\w+)/.exec(made.stdout)?.[1] as string;
    expect(secret).toMatch(/^whsec_\w{8,}/);
    // Its own variable, referenced from the Connect endpoint: the platform's STRIPE_WEBHOOK_SECRET stays as it is.
    expect(made.stdout).toContain(`STRIPE_CONNECT_WEBHOOK_SECRET=${secret} `);
    expect(made.stdout).toContain(`referenced from /connect's secrets as "\${STRIPE_CONNECT_WEBHOOK_SECRET}"`);
    expect(made.stdout).not.toContain("STRIPE_WEBHOOK_SECRET");
    // The secret is on the two documented lines only, never on stderr, in the config or in later output.
    expect(made.stdout.split("\n").filter((l) => l.includes(secret))).toHaveLength(2);
    expect(readFileSync(setup.file, "utf8")).toBe(before);
    const listed = await payhook(setup, ["stripe", "endpoint", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(endpoint.id);
    expect(listed.stdout + listed.stderr).not.toContain(secret);
    // A plain create (no --connect) sends no connect parameter.
    expect(
      (await payhook(setup, ["stripe", "endpoint", "create", "--url", "https://pay.example.com/webhook"])).code,
    ).toBe(0);
    const plain = fake.calls("/v1/webhook_endpoints").filter((r) => r.method === "POST")[1];
    expect(plain?.form.has("connect")).toBe(false);
    expect(fake.endpoints[1]?.connect).toBe(false);
  });

  test("sync after a map change enables exactly the new types; --dry-run only shows them", async () => {
    const setup = configFile(MAP);
    expect(
      (await payhook(setup, ["stripe", "endpoint", "create", "--url", "https://pay.example.com/webhook"])).code,
    ).toBe(0);
    const before = [...(fake.endpoints[0]?.enabled_events ?? [])];
    writeConfig(
      setup.file,
      `${MAP}  customer.created:
    - log: "customer {{data.object.id}}"
  charge.refunded:
    - log: "refund"
`,
    );
    const drift = await payhook(setup, ["check", "--stripe", "--strict"]);
    expect(drift.code).toBe(2);
    expect(drift.stderr).toContain("[never_sent]");

    const dry = await payhook(setup, ["stripe", "endpoint", "sync", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout.split("\n").filter((l) => /^ {2}[+-] /.test(l))).toEqual([
      "  + charge.refunded",
      "  + customer.created",
    ]);
    expect(fake.endpoints[0]?.enabled_events).toEqual(before);

    const synced = await payhook(setup, ["stripe", "endpoint", "sync"]);
    expect(synced.code).toBe(0);
    expect(synced.stdout).toContain("updated: 2 added, 0 removed");
    expect([...(fake.endpoints[0]?.enabled_events ?? [])].sort()).toEqual(
      [...before, "charge.refunded", "customer.created"].sort(),
    );
    expect((await payhook(setup, ["check", "--stripe", "--strict"])).code).toBe(0);
    const again = await payhook(setup, ["stripe", "endpoint", "sync"]);
    expect(again.stdout).toContain("up to date");
  });

  test("check --stripe reports each kind of mismatch, and --strict makes them exit 2", async () => {
    const setup = configFile(`handlers:
  payment_intent.succeeded:
    - log: paid
  invoice.paid:
    - log: invoice
`);
    existing({ url: "https://elsewhere.example.com/other", enabled_events: ["*"] }); // not this config's
    const endpoint = existing({
      enabled_events: ["payment_intent.succeeded", "charge.refunded"],
      status: "disabled",
      api_version: "2020-08-27",
    });
    const lenient = await payhook(setup, ["check", "--stripe"]);
    expect(lenient.code).toBe(0);
    const lines = lenient.stderr.split("\n").filter((l) => l.includes(`stripe endpoint ${endpoint.id}`));
    expect(lines.map((l) => /\[(\w+)\]/.exec(l)?.[1])).toEqual([
      "unhandled_types",
      "never_sent",
      "disabled",
      "api_version",
    ]);
    expect(lenient.stderr).toContain("charge.refunded");
    expect(lenient.stderr).toContain("never sends here: invoice.paid");
    expect(lenient.stderr).toContain("2020-08-27");
    expect(lenient.stderr).toContain(Stripe.API_VERSION);
    expect(lenient.stdout).toContain("4 mismatch(es)");

    const strict = await payhook(setup, ["check", "--stripe", "--strict"]);
    expect(strict.code).toBe(2);
    const missing = await payhook(setup, ["check", "--stripe", "--endpoint", "we_nothere", "--strict"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no webhook endpoint we_nothere");
    for (const text of [lenient.stdout, lenient.stderr, strict.stderr]) expect(text).not.toContain(SENTINEL);
  });

  test("a map that takes every type asks before enabling them all", async () => {
    const setup = configFile(`handlers:
  invoice.paid:
    - log: invoice
unhandled:
  - log: "other {{type}}"
`);
    const declined = await payhook(
      setup,
      ["stripe", "endpoint", "create", "--url", "https://pay.example.com/webhook"],
      "n\n",
    );
    expect(declined.code).toBe(1);
    expect(declined.stderr).toContain("Enable every type? [y/N]");
    expect(fake.endpoints).toHaveLength(0);
    const accepted = await payhook(
      setup,
      ["stripe", "endpoint", "create", "--url", "https://pay.example.com/webhook"],
      "y\n",
    );
    expect(accepted.code).toBe(0);
    expect(fake.endpoints[0]?.enabled_events).toEqual(["*"]);
  });

  test.each([
    [["--url", "https://pay.example.com/not-ours"], "does not end with an endpoint path"],
    [["--url", "not a url"], "expects an http(s) URL"],
    [[], "needs --url"],
  ])("create %j is refused: %s", async (args, message) => {
    const setup = configFile(MAP);
    const run = await payhook(setup, ["stripe", "endpoint", "create", ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(fake.requests).toHaveLength(0);
  });

  test("without stripe.api_key, check --stripe is a config error that says what to add", async () => {
    const dir = tempDir();
    const file = join(dir, "payhook.yaml");
    writeFileSync(
      file,
      `endpoints: [{ path: /webhook, secrets: ["whsec_x"] }]\nhandlers: { invoice.paid: [{ log: x }] }\n`,
    );
    const run = await runPayhook(["check", "--stripe", "--config", file], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("stripe.api_key: check --stripe needs Stripe API access");
  });

  test("what Stripe answers is printed with its terminal escapes made visible (list, create, check --stripe)", async () => {
    const setup = configFile(MAP);
    // A title change (OSC 0) and a screen clear inside text the API returns.
    existing({ url: "https://pay.example.com/\u001b]0;pwned\u0007/webhook", api_version: "2025\u001b[2J" });
    const listed = await payhook(setup, ["stripe", "endpoint", "list"]);
    const made = await payhook(setup, [
      "stripe",
      "endpoint",
      "create",
      "--url",
      "https://pay.example.com/\u001b[31mred/webhook",
    ]);
    const checked = await payhook(setup, ["check", "--stripe"]);
    for (const run of [listed, made, checked]) {
      expect(`${run.stdout}${run.stderr}`).not.toMatch(/[\u0007\u001b]/);
    }
    expect(listed.stdout).toContain("https://pay.example.com/\\u001b]0;pwned\\u0007/webhook");
    expect(listed.stdout).toContain("api 2025\\u001b[2J");
    expect(made.stdout).toContain("https://pay.example.com/\\u001b[31mred/webhook");
  });
});

describe("live-mode keys", () => {
  beforeEach(() => {
    fake = startFakeStripeApi(LIVE_KEY);
  });

  test("create and sync need --live; list and a dry run do not", async () => {
    const setup = configFile(MAP, LIVE_KEY);
    const refused = await payhook(setup, ["stripe", "endpoint", "create", "--url", "https://pay.example.com/webhook"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("live-mode key");
    expect(refused.stderr).toContain("--live");
    expect(refused.stderr).not.toContain(SENTINEL);
    expect(fake.requests).toHaveLength(0);
    const made = await payhook(setup, [
      "stripe",
      "endpoint",
      "create",
      "--url",
      "https://pay.example.com/webhook",
      "--live",
    ]);
    expect(made.code).toBe(0);
    expect((await payhook(setup, ["stripe", "endpoint", "sync"])).code).toBe(2);
    expect((await payhook(setup, ["stripe", "endpoint", "sync", "--dry-run"])).code).toBe(0);
    expect((await payhook(setup, ["stripe", "endpoint", "list"])).code).toBe(0);
  });
});
