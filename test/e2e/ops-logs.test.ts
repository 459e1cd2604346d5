/** End to end: operational logs are JSON lines; every line about an event names it; no secret or payload leaks. */
import { afterEach, expect, test } from "bun:test";
import { type RunningServer, startServer, testConfig } from "../helpers/server.ts";
import { deliver, event, idOf, sign } from "../helpers/stripe.ts";

const SECRET = "whsec_SENTINELlogsecret0123456789";
const PAYLOAD_SENTINEL = "PAYLOAD-SENTINEL-7f3a";

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

test("JSON lines: event lines carry event_id and type; no secret, no payload", async () => {
  const config = testConfig(
    `handlers:
  payment_intent.succeeded:
    - name: notify
      log: "paid {{data.object.id}}"
  charge.failed:
    - name: broken
      exec: { command: ["/bin/false"] }
unhandled:
  - log: "unhandled {{type}}"
`,
    SECRET,
  );
  server = await startServer({ config });
  const url = `${server.url}/webhook`;
  const withSentinel = (type: string) =>
    event(type, { data: { object: { id: "pi_logs_1", object: "payment_intent", description: PAYLOAD_SENTINEL } } });
  const paid = withSentinel("payment_intent.succeeded");
  const failing = withSentinel("charge.failed");
  expect((await deliver(url, paid, { secret: SECRET })).status).toBe(200);
  expect((await deliver(url, paid, { secret: SECRET })).status).toBe(200);
  expect((await deliver(url, failing, { secret: SECRET })).status).toBe(200);
  const tampered = withSentinel("invoice.paid");
  const header = await sign(tampered, { secret: SECRET });
  expect((await deliver(url, tampered.replace("pi_logs_1", "pi_logs_2"), { header })).status).toBe(400);
  await server.waitForStdout("paid pi_logs_1");
  await server.waitForStderr('"msg":"action failed"');
  await server.stop();

  const lines = server.stderr.filter((l) => l !== "");
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const r of records) {
    expect(typeof r.time).toBe("string");
    expect(["debug", "info", "warn", "error"]).toContain(r.level as string);
    expect(typeof r.msg).toBe("string");
  }
  const about = (msg: string) => records.filter((r) => r.msg === msg);
  expect(about("event accepted").map((r) => [r.event_id, r.type])).toEqual([
    [idOf(paid), "payment_intent.succeeded"],
    [idOf(failing), "charge.failed"],
  ]);
  expect(about("duplicate event acknowledged; nothing new stored").map((r) => [r.event_id, r.type])).toEqual([
    [idOf(paid), "payment_intent.succeeded"],
  ]);
  // A delivery that succeeds is one line at the default level, as a failure is.
  expect(about("action done").map((r) => [r.level, r.event_id, r.action])).toEqual([["info", idOf(paid), "notify"]]);
  const failed = about("action failed");
  expect(failed).toHaveLength(1);
  expect(failed[0]).toMatchObject({ event_id: idOf(failing), type: "charge.failed", action: "broken", attempt: 1 });
  // Every line that names an event names its type too.
  for (const r of records.filter((r) => "event_id" in r)) expect(typeof r.type).toBe("string");

  const everything = [...server.stderr, ...server.stdout].join("\n");
  expect(everything).not.toContain(SECRET);
  expect(everything).not.toContain(SECRET.slice("whsec_".length));
  // Payload values reach the log only through a log action the user wrote, on stdout.
  expect(server.stderr.join("\n")).not.toContain(PAYLOAD_SENTINEL);
});
