/** End to end: the compiled payhook (or PAYHOOK_CMD) with a real config file, on a free port. */
import { afterEach, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { type RunningServer, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver, event, idOf, sign } from "../helpers/stripe.ts";

const CONFIG = testConfig(`handlers:
  payment_intent.succeeded:
    - log: "PaymentIntent {{data.object.id}} was successful!"
  "charge.*":
    - log: "charge event {{type}} for {{data.object.id}}"
unhandled:
  - log: "Unhandled event type: {{type}}"
retry: { attempts: 3, schedule: [10ms] }
`);

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

const rows = (dir: string, sql: string) => queryStore(dir, sql);

describe("serve", () => {
  test("a signed event is acknowledged after it is stored, and its log action prints its line", async () => {
    server = await startServer({ config: CONFIG });
    const payload = event("payment_intent.succeeded");
    const response = await deliver(`${server.url}/webhook`, payload);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true });
    const piId = (JSON.parse(payload) as { data: { object: { id: string } } }).data.object.id;
    await server.waitForStdout(`PaymentIntent ${piId} was successful!`);
    const stored = rows(server.dir, "SELECT id, type, object, livemode, endpoint, body FROM events");
    expect(stored).toHaveLength(1);
    expect(stored[0]?.id).toBe(idOf(payload));
    expect(new TextDecoder().decode(stored[0]?.body as Uint8Array)).toBe(payload);
  });

  test("a duplicate is acknowledged as such and runs nothing again", async () => {
    server = await startServer({ config: CONFIG });
    const payload = event("payment_intent.succeeded");
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    const again = await deliver(`${server.url}/webhook`, payload);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ received: true, duplicate: true });
    // A later, different event proves the worker has caught up past the duplicate.
    const later = event("customer.created");
    await deliver(`${server.url}/webhook`, later);
    await server.waitForStdout("Unhandled event type: customer.created");
    expect(server.stdout.filter((l) => l.startsWith("PaymentIntent "))).toHaveLength(1);
    expect(rows(server.dir, "SELECT id FROM deliveries")).toHaveLength(2);
  });

  test("every matching pattern runs; unhandled runs only when nothing matched", async () => {
    server = await startServer({ config: CONFIG });
    await deliver(`${server.url}/webhook`, event("charge.refunded"));
    await deliver(`${server.url}/webhook`, event("invoice.paid"));
    await server.waitForStdout("charge event charge.refunded");
    await server.waitForStdout("Unhandled event type: invoice.paid");
    expect(server.stdout.some((l) => l.includes("Unhandled event type: charge"))).toBe(false);
  });

  test("a tampered body gets 400 with a helpful message and stores nothing", async () => {
    server = await startServer({ config: CONFIG });
    const payload = event();
    const header = await sign(payload);
    const response = await deliver(`${server.url}/webhook`, payload.replace("2000", "1"), { header });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("signature_mismatch");
    expect(body.error.message).toContain("raw request body");
    expect(rows(server.dir, "SELECT id FROM events")).toHaveLength(0);
  });

  test("a body over max_body gets 413 and is not stored", async () => {
    server = await startServer({
      config: CONFIG.replace('secrets: ["whsec_test_secret"]', 'secrets: ["whsec_test_secret"]\n    max_body: 1kb'),
    });
    const payload = event("payment_intent.succeeded", { padding: "x".repeat(2048) });
    const response = await deliver(`${server.url}/webhook`, payload);
    expect(response.status).toBe(413);
    expect(rows(server.dir, "SELECT id FROM events")).toHaveLength(0);
  });

  test("a chunked body over max_body gets 413 without being read whole", async () => {
    server = await startServer({
      config: CONFIG.replace('secrets: ["whsec_test_secret"]', 'secrets: ["whsec_test_secret"]\n    max_body: 1kb'),
    });
    const chunk = new TextEncoder().encode("x".repeat(512));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 64) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await fetch(`${server.url}/webhook`, {
      method: "POST",
      body,
      headers: { "stripe-signature": "t=1,v1=00" },
    });
    expect(response.status).toBe(413);
  });

  test("wrong method gets 405 and an unknown path 404", async () => {
    server = await startServer({ config: CONFIG });
    const get = await fetch(`${server.url}/webhook`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect((await fetch(`${server.url}/other`, { method: "POST", body: "{}" })).status).toBe(404);
  });

  test("kill -9 right after a 200: after a restart the action still runs", async () => {
    // The test build's hold-worker switch keeps actions from running, so the kill lands between commit and action.
    server = await startServer({ config: CONFIG, env: { PAYHOOK_TEST_HOOK: "hold-worker" } });
    const payload = event("payment_intent.succeeded");
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
    const dir = server.dir;
    await server.kill();
    expect(server.stdout.some((l) => l.includes("was successful"))).toBe(false);
    server = await startServer({ config: CONFIG, dir });
    await server.waitForStdout("was successful!");
    await waitUntil(() => rows(dir, "SELECT status FROM deliveries WHERE status = 'done'").length === 1);
    expect(rows(dir, "SELECT status, attempts FROM deliveries")).toEqual([{ status: "done", attempts: 1 }]);
  });

  test("SIGTERM stops it cleanly with exit code 0", async () => {
    server = await startServer({ config: CONFIG });
    expect(await server.stop()).toBe(0);
    await server.waitForStderr('"msg":"stopped"');
    server = undefined;
  });

  test("a thin event is verified with the thin-event API and stored as one", async () => {
    server = await startServer({ config: CONFIG });
    const thin = JSON.stringify({
      id: "evt_test_thin0001",
      object: "v2.core.event",
      type: "v1.billing.meter.error_report_triggered",
      livemode: false,
      created: new Date().toISOString(),
      related_object: { id: "mtr_test_1", type: "billing.meter", url: "/v1/billing/meters/mtr_test_1" },
    });
    expect((await deliver(`${server.url}/webhook`, thin)).status).toBe(200);
    await server.waitForStdout("Unhandled event type: v1.billing.meter.error_report_triggered");
    expect(rows(server.dir, "SELECT id, object FROM events")).toEqual([
      { id: "evt_test_thin0001", object: "v2.core.event" },
    ]);
  });

  test("the signing secret never appears in its output, whatever the request", async () => {
    const sentinel = "whsec_SENTINEL0serve0secret";
    server = await startServer({
      config: testConfig('unhandled:\n  - log: "{{type}}"\n', sentinel),
      args: ["--log-level", "debug"],
    });
    const payload = event("customer.created");
    await deliver(`${server.url}/webhook`, payload, { secret: sentinel });
    await deliver(`${server.url}/webhook`, payload.replace("customer", "kustomer"), {
      header: await sign(payload, { secret: sentinel }),
    });
    await deliver(`${server.url}/webhook`, payload, { secret: "whsec_other" });
    await server.waitForStdout("customer.created");
    expect(await server.stop()).toBe(0);
    const output = [...server.stdout, ...server.stderr].join("\n");
    expect(output).toContain("signature_mismatch");
    expect(output).not.toContain(sentinel);
    expect(output).not.toContain("SENTINEL");
    server = undefined;
  });

  test("a short Host header (a proxy's `Host: api`) still reaches the endpoint", async () => {
    server = await startServer({ config: CONFIG });
    const payload = event("payment_intent.succeeded");
    const header = await sign(payload);
    for (const host of ["api", "x", "ab:1"]) {
      const response = await rawRequest(
        server.port,
        `POST /webhook HTTP/1.1\r\nHost: ${host}\r\nStripe-Signature: ${header}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`,
      );
      expect(response).toStartWith("HTTP/1.1 200");
    }
    const health = await rawRequest(server.port, "GET /healthz HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n");
    expect(health).toStartWith("HTTP/1.1 200");
  });
});

/** One request over a plain socket, so the Host header is exactly what the test says. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    socket.on("data", (chunk) => {
      data += chunk.toString();
    });
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
  });
}
