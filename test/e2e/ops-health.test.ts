/** End to end: /healthz, /readyz (fails while the store cannot be written), /metrics, and the admin listener. */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { freePort, type RunningServer, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { deliver, event, sign } from "../helpers/stripe.ts";

const CONFIG = testConfig(`handlers:
  payment_intent.succeeded:
    - name: notify
      log: "paid {{data.object.id}}"
unhandled:
  - name: other
    log: "unhandled {{type}}"
`);

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

/** The value of one series in a scrape, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("health and readiness", () => {
  test("/healthz is 200; /readyz is 200, 503 while another process holds the store's write lock, then 200 again", async () => {
    server = await startServer({ config: CONFIG });
    const { url } = server;
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", checks: { config: "ok", store: "ok" } });

    // Another process (a backup tool, a second payhook) takes the write lock: the store cannot take events.
    const other = new Database(join(server.dir, "payhook.db"));
    try {
      other.run("BEGIN IMMEDIATE");
      // Probes share one result for up to a second, so the lock shows at the next real check.
      let blocked = await fetch(`${server.url}/readyz`);
      await waitUntil(async () => {
        blocked = await fetch(`${url}/readyz`);
        return blocked.status === 503;
      });
      expect(blocked.status).toBe(503);
      const body = (await blocked.json()) as { status: string; checks: { store: string } };
      expect(body.status).toBe("unavailable");
      expect(body.checks.store).toContain("the store cannot be written: database is locked");
      // Liveness is not readiness: the process is fine, so a supervisor must not restart it.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      await server.waitForStderr('"msg":"not ready"');
    } finally {
      other.run("ROLLBACK");
      other.close();
    }
    await waitUntil(async () => (await fetch(`${url}/readyz`)).status === 200);
    await server.waitForStderr('"msg":"ready again"');
  });

  test("with an admin listener the ops routes move there and leave the main port", async () => {
    const adminPort = await freePort();
    server = await startServer({ config: `${CONFIG}admin: { host: 127.0.0.1, port: ${adminPort} }\n` });
    const admin = `http://127.0.0.1:${adminPort}`;
    const listening = JSON.parse(await server.waitForStderr('"msg":"listening"')) as { admin: string };
    expect(listening.admin).toBe(admin);
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      expect((await fetch(`${admin}${path}`)).status).toBe(200);
      expect((await fetch(`${server.url}${path}`)).status).toBe(404);
    }
    // The admin listener takes no webhooks.
    expect((await fetch(`${admin}/webhook`, { method: "POST", body: "{}" })).status).toBe(404);
  });
});

describe("metrics", () => {
  test("after a known sequence of requests every series has the expected value", async () => {
    server = await startServer({ config: CONFIG });
    const url = `${server.url}/webhook`;
    const paid = event("payment_intent.succeeded");
    const other = event("customer.created");
    expect((await deliver(url, paid)).status).toBe(200);
    expect((await deliver(url, paid)).status).toBe(200); // duplicate
    expect((await deliver(url, other)).status).toBe(200);
    const tampered = event("payment_intent.succeeded");
    expect((await deliver(url, tampered.replace("2000", "1"), { header: await sign(tampered) })).status).toBe(400);
    expect((await fetch(url, { method: "POST", body: "{}" })).status).toBe(400); // no signature
    expect((await fetch(url)).status).toBe(405);
    await server.waitForStdout("unhandled customer.created");
    await server.waitForStdout(/^paid pi_/);

    let text = "";
    await waitUntil(async () => {
      const response = await fetch(`${server?.url}/metrics`);
      expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
      text = await response.text();
      // An attempt is counted after its action returns, so the printed lines alone do not prove it.
      const done = (action: string) => sample(text, `payhook_deliveries_total{action="${action}",outcome="done"}`);
      // The store records the attempt just after it is counted, so also wait for the queue to be empty.
      const queued = (status: string) => sample(text, `payhook_deliveries{status="${status}"}`);
      return done("other") === 1 && done("notify") === 1 && queued("pending") === 0 && queued("running") === 0;
    });
    const requests = (labels: string) => sample(text, `payhook_requests_total{endpoint="/webhook",${labels}}`);
    expect(requests('outcome="accepted"')).toBe(2);
    expect(requests('outcome="duplicate"')).toBe(1);
    expect(requests('outcome="rejected",reason="signature_mismatch"')).toBe(1);
    expect(requests('outcome="rejected",reason="missing_signature"')).toBe(1);
    expect(requests('outcome="rejected",reason="method_not_allowed"')).toBe(1);
    expect(sample(text, 'payhook_events_total{type="payment_intent.succeeded"}')).toBe(1);
    expect(sample(text, 'payhook_events_total{type="customer.created"}')).toBe(1);
    expect(sample(text, "payhook_ack_duration_seconds_count")).toBe(3);
    expect(sample(text, 'payhook_ack_duration_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(sample(text, 'payhook_deliveries_total{action="notify",outcome="done"}')).toBe(1);
    expect(sample(text, 'payhook_deliveries_total{action="notify",outcome="retry"}')).toBe(0);
    expect(sample(text, 'payhook_action_duration_seconds_count{action="notify"}')).toBe(1);
    expect(sample(text, 'payhook_deliveries{status="pending"}')).toBe(0);
    expect(sample(text, 'payhook_deliveries{status="dead"}')).toBe(0);
    expect(sample(text, "payhook_oldest_pending_delivery_age_seconds")).toBe(0);
    expect(sample(text, "payhook_config_last_reload_successful")).toBe(1);
    expect(text).toMatch(
      /^payhook_build_info\{version="[^"]+",commit="[^"]+",commit_date="[^"]+",target="[^"]+",runtime="(bun|deno)",runtime_version="[^"]+"\} 1$/m,
    );
  });

  test("the queue gauges count pending deliveries and the age of the oldest", async () => {
    // The worker is held back, so deliveries stay pending.
    server = await startServer({ config: CONFIG, env: { PAYHOOK_TEST_HOOK: "hold-worker" } });
    for (let i = 0; i < 3; i++) expect((await deliver(`${server.url}/webhook`, event())).status).toBe(200);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(text, 'payhook_deliveries{status="pending"}')).toBe(3);
    expect(sample(text, "payhook_oldest_pending_delivery_age_seconds")).toBeGreaterThanOrEqual(0);
  });
});
