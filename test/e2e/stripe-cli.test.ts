/**
 * End to end with the real Stripe CLI (@stripe/cli 1.52.0), fully offline: `stripe listen` and `stripe trigger`
 * talk to a fake of Stripe's side on 127.0.0.1 and forward to the compiled payhook.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildEvents } from "../../src/fixtures/index.ts";
import { type CliProcess, type FakeStripe, runStripeCli, startFakeStripe } from "../helpers/fake-stripe.ts";
import { type RunningServer, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { queryStore } from "../helpers/store.ts";

const HANDLERS = `handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
  v1.billing.meter.no_meter_found:
    - log: "thin event {{type}} {{id}}"
unhandled:
  - log: "Unhandled event type: {{type}}"
`;

function storedTypes(dir: string): { id: string; type: string; object: string }[] {
  return queryStore(dir, "SELECT id, type, object FROM events");
}

function storedBody(dir: string, id: string): string {
  const [row] = queryStore<{ body: Uint8Array }>(dir, "SELECT body FROM events WHERE id = ?", id);
  return new TextDecoder().decode(row?.body);
}

describe("the real Stripe CLI against a fake Stripe, forwarding to payhook", () => {
  let fake: FakeStripe;
  let payhook: RunningServer;
  let listen: CliProcess;
  let url: string;
  let thinUrl: string;

  beforeAll(async () => {
    fake = await startFakeStripe();
    const print = await runStripeCli(["listen", "--print-secret", "--skip-update", "--api-base", fake.apiBase]);
    expect(await print.exited).toBe(0);
    const secret = print.stdout.join("").trim();
    expect(secret).toBe(fake.secret);
    // The CLI refuses one destination for both kinds, so thin events go to a second endpoint, same secret.
    const config = testConfig(`  - path: /thin\n    secrets: ["${secret}"]\n${HANDLERS}`, secret);
    payhook = await startServer({ config });
    url = `${payhook.url}/webhook`;
    thinUrl = `${payhook.url}/thin`;
    listen = await runStripeCli([
      "listen",
      "--skip-update",
      "--api-base",
      fake.apiBase,
      "--all-snapshot",
      "--forward-to",
      url,
      "--all-thin",
      "--forward-thin-to",
      thinUrl,
    ]);
    await listen.waitFor("stderr", "Ready!");
    await fake.connected();
  }, 60_000);

  afterAll(async () => {
    await listen?.kill();
    await payhook?.kill();
    fake?.stop();
  });

  test("a snapshot event is forwarded byte for byte, verified, stored, handled and answered 200", async () => {
    const [event] = buildEvents("payment_intent.succeeded").slice(-1);
    if (!event) throw new Error("no event");
    await fake.sendEvent(event.body);
    await listen.waitFor("stdout", `[200] POST ${url} [${event.id}]`);
    const response = await fake.response(event.id);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ received: true });
    const pi = (JSON.parse(event.body) as { data: { object: { id: string } } }).data.object.id;
    await payhook.waitForStdout(`PaymentIntent ${pi} was successful!`);
    expect(storedTypes(payhook.dir)).toContainEqual({
      id: event.id,
      type: "payment_intent.succeeded",
      object: "event",
    });
    expect(storedBody(payhook.dir, event.id)).toBe(event.body);
    expect(response.request_body).toBe(event.body);
    // The session asked for both kinds of events and named the forward URLs.
    expect(fake.sessions.at(-1)?.getAll("websocket_features[]").sort()).toEqual(["v2_events", "webhooks"]);
    expect(fake.sessions.at(-1)?.get("forward_to_url")).toBe(url);
  }, 30_000);

  test("a thin event is forwarded to --forward-thin-to, verified as a thin event, handled and answered 200", async () => {
    const [event] = buildEvents("v1.billing.meter.no_meter_found");
    if (!event) throw new Error("no event");
    await fake.sendThinEvent(event.body);
    await listen.waitFor("stdout", `[200] POST ${thinUrl} [${event.id}]`);
    await payhook.waitForStdout(`thin event v1.billing.meter.no_meter_found ${event.id}`);
    expect(storedTypes(payhook.dir)).toContainEqual({
      id: event.id,
      type: "v1.billing.meter.no_meter_found",
      object: "v2.core.event",
    });
  }, 30_000);

  test("`stripe trigger payment_intent.succeeded` makes its API call, and payhook handles each event it causes", async () => {
    const before = new Set(storedTypes(payhook.dir).map((e) => e.id));
    const trigger = await runStripeCli(["trigger", "payment_intent.succeeded", "--api-base", fake.apiBase]);
    expect(await trigger.exited).toBe(0);
    expect(trigger.stdout.join("\n")).toContain("Trigger succeeded!");
    const call = fake.apiCalls.find((c) => c.path === "/v1/payment_intents");
    expect(call?.params.get("amount")).toBe("2000");
    expect(call?.params.get("confirm")).toBe("true");
    expect(call?.params.get("payment_method")).toBe("pm_card_visa");

    const fresh = () => storedTypes(payhook.dir).filter((e) => !before.has(e.id));
    await waitUntil(() => fresh().length === 3, 20_000, "the three events of the trigger stored");
    // The CLI forwards each event in its own goroutine, so the order it posts them in is not fixed.
    expect(
      fresh()
        .map((e) => e.type)
        .sort(),
    ).toEqual(["charge.succeeded", "payment_intent.created", "payment_intent.succeeded"]);
    for (const { id } of fresh()) await listen.waitFor("stdout", `[200] POST ${url} [${id}]`);
    await payhook.waitForStdout("Unhandled event type: charge.succeeded");
    await payhook.waitForStdout("Unhandled event type: payment_intent.created");
    const successes = () => payhook.stdout.filter((l) => / was successful!$/.test(l));
    // One from the earlier snapshot test on this server, one from the trigger's payment_intent.succeeded.
    await waitUntil(() => successes().length >= 2, 20_000, "both success lines printed");
    expect(successes()).toHaveLength(2);
  }, 60_000);
});

test("with the wrong secret the CLI reports [400] and payhook stores nothing", async () => {
  const fake = await startFakeStripe();
  const payhook = await startServer({ config: testConfig(HANDLERS, "whsec_notthesecretthatstripeuses") });
  const url = `${payhook.url}/webhook`;
  const listen = await runStripeCli([
    "listen",
    "--skip-update",
    "--api-base",
    fake.apiBase,
    "--all-snapshot",
    "--forward-to",
    url,
  ]);
  try {
    await listen.waitFor("stderr", "Ready!");
    await fake.connected();
    const [event] = buildEvents("customer.created");
    if (!event) throw new Error("no event");
    await fake.sendEvent(event.body);
    await listen.waitFor("stdout", `[400] POST ${url} [${event.id}]`);
    const response = await fake.response(event.id);
    expect(response.status).toBe(400);
    expect((JSON.parse(response.body) as { error: { code: string } }).error.code).toBe("signature_mismatch");
    expect(storedTypes(payhook.dir)).toHaveLength(0);
  } finally {
    await listen.kill();
    await payhook.kill();
    fake.stop();
  }
}, 60_000);
