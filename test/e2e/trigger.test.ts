/** End to end: `payhook trigger` and `payhook sign` (the compiled binary) against a running payhook. */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { resolveTarget } from "../../src/cli/options.ts";
import { DEVELOPMENT_SECRET } from "../../src/config/default.ts";
import { TRIGGER_NAMES } from "../../src/fixtures/index.ts";
import { freePort, type RunningServer, runPayhook, startServer, tempDir, testConfig } from "../helpers/server.ts";

const SECRET = "whsec_test_secret";
const CONFIG = testConfig(`handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
unhandled:
  - log: "Unhandled event type: {{type}}"
`);

/** The event type a trigger name is about (the CLI's names are event types, but for a few). */
function primaryType(name: string): string {
  if (name === "subscription.payment_failed") return "invoice.payment_failed";
  if (name === "subscription.payment_succeeded") return "invoice.payment_succeeded";
  return name.replace(/\.(eu|gb)$/, "");
}

function stored(dir: string): Map<string, { type: string; account: string | null; body: string }> {
  const db = new Database(join(dir, "payhook.db"), { readonly: true });
  try {
    const rows = db.prepare("SELECT id, type, account, body FROM events").all() as {
      id: string;
      type: string;
      account: string | null;
      body: Uint8Array;
    }[];
    return new Map(
      rows.map((r) => [r.id, { type: r.type, account: r.account, body: new TextDecoder().decode(r.body) }]),
    );
  } finally {
    db.close();
  }
}

/** `[200] POST url [evt_…] type` lines → [status, id, type]. */
function deliveries(stdout: string, url: string): [string, string, string][] {
  return stdout
    .trim()
    .split("\n")
    .map((line) => {
      const match = /^\[(\d{3}|ERROR)\] POST (\S+) \[(evt_\w+)\] (\S+)$/.exec(line);
      if (!match || match[2] !== url) throw new Error(`unexpected output line: ${line}`);
      return [match[1] as string, match[3] as string, match[4] as string];
    });
}

describe("payhook trigger against a running payhook", () => {
  let server: RunningServer;
  let url: string;

  beforeAll(async () => {
    server = await startServer({ config: CONFIG });
    url = `${server.url}/webhook`;
  });
  afterAll(async () => {
    await server?.kill();
  });

  test(`every one of the ${TRIGGER_NAMES.length} names: each event gets 200 and is stored with its type`, async () => {
    const queue = [...TRIGGER_NAMES];
    const failures: string[] = [];
    // Four at a time: each is a separate process, and the machine has two cores.
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const result = await runPayhook(["trigger", name, "--url", url, "--secret", SECRET]);
        if (result.code !== 0) failures.push(`${name}: exit ${result.code}: ${result.stderr}`);
        const sent = deliveries(result.stdout, url);
        const rows = stored(server.dir);
        if (!sent.some(([, , type]) => type === primaryType(name))) failures.push(`${name}: no ${primaryType(name)}`);
        for (const [status, id, type] of sent) {
          if (status !== "200") failures.push(`${name}: ${id} got ${status}`);
          if (rows.get(id)?.type !== type)
            failures.push(`${name}: ${id} stored as ${rows.get(id)?.type}, sent as ${type}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(failures).toEqual([]);
  }, 120_000);

  test("without --url/--secret it targets ./payhook.yaml's endpoint, and the seed's handler prints its line", async () => {
    // startServer wrote the config as payhook.yaml in its folder, which is where serve and trigger look first.
    const result = await runPayhook(["trigger", "payment_intent.succeeded"], { cwd: server.dir });
    expect(result.code).toBe(0);
    const sent = deliveries(result.stdout, url);
    expect(sent.map(([status, , type]) => `${status} ${type}`)).toEqual([
      "200 payment_intent.created",
      "200 charge.succeeded",
      "200 payment_intent.succeeded",
    ]);
    const body = JSON.parse(stored(server.dir).get(sent[2]?.[1] as string)?.body ?? "{}");
    await server.waitForStdout(`PaymentIntent ${body.data.object.id} was successful!`);
  });

  test("--override, --data and --account change what is sent; the stored body is what was signed", async () => {
    const data = join(tempDir(), "data.json");
    writeFileSync(data, JSON.stringify({ data: { object: { metadata: { order: "42" } } } }));
    const result = await runPayhook([
      "trigger",
      "charge.succeeded",
      "--url",
      url,
      "--secret",
      SECRET,
      "--override",
      "data.object.amount=4200",
      "--override",
      "payment_intent.created:data.object.currency=eur",
      "--data",
      data,
      "--account",
      "acct_1TestConnected",
    ]);
    expect(result.code).toBe(0);
    const rows = stored(server.dir);
    const [created, charge] = deliveries(result.stdout, url).map(([, id]) => rows.get(id));
    expect(JSON.parse(charge?.body ?? "{}").data.object).toMatchObject({ amount: 4200, metadata: { order: "42" } });
    expect(JSON.parse(created?.body ?? "{}").data.object.currency).toBe("eur");
    expect(charge?.account).toBe("acct_1TestConnected");
  });

  test("--thin sends thin notifications that payhook verifies and stores as v2.core.event", async () => {
    const result = await runPayhook(["trigger", "customer.created", "--thin", "--url", url, "--secret", SECRET]);
    expect(result.code).toBe(0);
    const [[status, id, type] = []] = deliveries(result.stdout, url);
    expect([status, type]).toEqual(["200", "v1.customer.created"]);
    expect(JSON.parse(stored(server.dir).get(id as string)?.body ?? "{}").object).toBe("v2.core.event");
  });

  test("a refused delivery prints its status, the reason on stderr, and exits 1", async () => {
    const result = await runPayhook(["trigger", "customer.created", "--url", url, "--secret", "whsec_wrong"]);
    expect(result.code).toBe(1);
    expect(deliveries(result.stdout, url)[0]?.[0]).toBe("400");
    expect(result.stderr).toContain("signature_mismatch");
    expect(result.stderr).not.toContain("whsec_wrong");
  });

  test("payhook sign prints a header that payhook accepts for that exact body (as curl would send it)", async () => {
    const body = JSON.stringify({ id: "evt_signed_by_cli", object: "event", type: "customer.created", data: {} });
    const signed = await runPayhook(["sign", "--secret", SECRET], { stdin: body });
    expect(signed.code).toBe(0);
    const header = signed.stdout.trim();
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const response = await fetch(url, { method: "POST", body, headers: { "stripe-signature": header } });
    expect(response.status).toBe(200);
    expect(stored(server.dir).get("evt_signed_by_cli")?.type).toBe("customer.created");
  });
});

test("nothing listening: [ERROR] per event, a hint on stderr, exit 1", async () => {
  const url = `http://127.0.0.1:${await freePort()}/webhook`;
  const result = await runPayhook(["trigger", "customer.created", "--url", url, "--secret", SECRET]);
  expect(result.code).toBe(1);
  expect(deliveries(result.stdout, url)[0]?.[0]).toBe("ERROR");
  expect(result.stderr).toContain("payhook serve");
});

test("--list prints every supported name; an unknown name is a usage error", async () => {
  const list = await runPayhook(["trigger", "--list"]);
  expect(list.code).toBe(0);
  expect(list.stdout.trim().split("\n")).toEqual([...TRIGGER_NAMES]);
  const unknown = await runPayhook(["trigger", "payment_intent.succeded"]);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain("payment_intent.succeeded");
});

test("sign: a fixed --timestamp gives Stripe's known answer; a bad secret is refused without echoing it", async () => {
  // HMAC-SHA256 with key "whsec_abc" over "100.{}" (Stripe signs "<t>.<body>" with the whole secret as key).
  const known = await runPayhook(["sign", "--secret", "whsec_abc", "--timestamp", "100"], { stdin: "{}" });
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode("whsec_abc"),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("100.{}")));
  expect(known.stdout.trim()).toBe(`t=100,v1=${Buffer.from(mac).toString("hex")}`);
  const bad = await runPayhook(["sign", "--secret", "sk_live_notasecret"], { stdin: "{}" });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("whsec_");
  expect(bad.stderr).not.toContain("sk_live_notasecret");
});

test("with no flags and no ./payhook.yaml the target is the default config's URL and development secret", () => {
  const previous = process.cwd();
  process.chdir(tempDir());
  try {
    expect(resolveTarget({}, {})).toEqual({ url: "http://127.0.0.1:4242/webhook", secret: DEVELOPMENT_SECRET });
    expect(resolveTarget({}, { STRIPE_WEBHOOK_SECRET: "whsec_fromenv" }).secret).toBe("whsec_fromenv");
  } finally {
    process.chdir(previous);
  }
});
