/**
 * End to end: `order:` from the compiled binary. Events for one object reach a recording service in `created` order,
 * one at a time, whatever order they arrive in and however their attempts fail; across a kill -9 too; a stale
 * invoice.payment_failed after invoice.paid is skipped with its note; many keys still run in parallel.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { type RunningServer, runPayhook, startServer, testConfig, waitUntil } from "../helpers/server.ts";
import { type Sink, type SinkRequest, startSink } from "../helpers/sink.ts";
import { queryStore } from "../helpers/store.ts";
import { deliver, event, idOf } from "../helpers/stripe.ts";

let server: RunningServer | undefined;
let sink: Sink;
beforeEach(async () => {
  sink = await startSink();
});
afterEach(async () => {
  await server?.kill();
  server = undefined;
  await sink.close();
});

const T = Math.floor(Date.now() / 1000) - 60;

function config(stale: "run" | "skip"): string {
  return testConfig(`handlers:
  "customer.subscription.*":
    - name: sync-subscription
      forward: { url: "${sink.url}/subscriptions/{{data.object.id}}" }
      order: { key: "{{data.object.id}}", stale: ${stale} }
      retry: { attempts: 5, schedule: [50ms], jitter: 0 }
  "invoice.*":
    - name: sync-invoice
      forward: { url: "${sink.url}/invoices/{{data.object.id}}" }
      order: { key: "{{data.object.id}}", stale: skip }
`);
}

/** A subscription event for `object`, created `offset` seconds after T. */
function subscriptionEvent(object: string, offset: number, type = "customer.subscription.updated"): string {
  return event(type, {
    created: T + offset,
    data: { object: { id: object, object: "subscription", status: "active", note: `at ${offset}` } },
  });
}

function createdOf(request: SinkRequest): number {
  return (JSON.parse(new TextDecoder().decode(request.body)) as { created: number }).created;
}

/** Pairs of requests to one path that were in flight at the same time. */
function overlaps(requests: SinkRequest[]): [SinkRequest, SinkRequest][] {
  const out: [SinkRequest, SinkRequest][] = [];
  for (const a of requests) {
    for (const b of requests) {
      if (a.arrived < b.arrived && b.arrived < (a.answered ?? Number.POSITIVE_INFINITY)) out.push([a, b]);
    }
  }
  return out;
}

function statuses(dir: string): Record<string, string> {
  const rows = queryStore<{ event_id: string; status: string }>(dir, "SELECT event_id, status FROM deliveries");
  return Object.fromEntries(rows.map((r) => [r.event_id, r.status]));
}

describe("order: from the compiled binary", () => {
  test("one subscription's events, sent newest first with Stripe's retries interleaved, arrive in created order, one at a time, across a kill -9", async () => {
    // Stored with the worker held (the test build's switch), so all of them wait together.
    server = await startServer({ config: config("run"), env: { PAYHOOK_TEST_HOOK: "hold-worker" } });
    const events = [1, 2, 3, 4, 5, 6].map((n) => subscriptionEvent("sub_1", n));
    const sent = [events[5], events[3], events[5], events[4], events[0], events[3], events[2], events[1], events[0]];
    for (const payload of sent) expect((await deliver(`${server.url}/webhook`, payload as string)).status).toBe(200);
    const dir = server.dir;
    expect(await server.stop()).toBe(0);

    // The service fails some attempts and hangs on the second event's first one: payhook is killed mid-request.
    sink.plan("/subscriptions/sub_1", ["busy", "hang", "busy", "500", "busy", "503", "busy", "busy"]);
    server = await startServer({ config: config("run"), dir });
    await sink.waitFor("/subscriptions/sub_1", 2);
    await server.kill();
    server = await startServer({ config: config("run"), dir });
    await waitUntil(() => Object.values(statuses(dir)).every((s) => s === "done"), 30_000);

    const requests = sink.to("/subscriptions/sub_1");
    const order = requests.map(createdOf);
    // Every attempt, the failed and the interrupted ones included, in created order: never a newer one before an older.
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const delivered = requests.filter((r) => r.status === 200).map(createdOf);
    expect(delivered).toEqual([1, 2, 3, 4, 5, 6].map((n) => T + n));
    // The hung request was still open when the next one arrived (payhook had died); otherwise never two at once.
    const hung = requests[1] as SinkRequest;
    expect(overlaps(requests).filter(([a]) => a !== hung)).toEqual([]);
    expect(requests.length).toBeGreaterThan(6);
  });

  test("a stale invoice.payment_failed after invoice.paid is skipped with its note, counted, shown; a replay runs it and says so", async () => {
    server = await startServer({ config: config("skip") });
    const invoice = { id: "in_1", object: "invoice", status: "paid" };
    const paid = event("invoice.paid", { created: T + 10, data: { object: invoice } });
    const failed = event("invoice.payment_failed", { created: T, data: { object: { ...invoice, status: "open" } } });
    expect((await deliver(`${server.url}/webhook`, paid)).status).toBe(200);
    await sink.waitFor("/invoices/in_1", 1);
    await waitUntil(() => statuses(server?.dir ?? "")[idOf(paid)] === "done");
    expect((await deliver(`${server.url}/webhook`, failed)).status).toBe(200);
    await waitUntil(() => statuses(server?.dir ?? "")[idOf(failed)] === "done");
    expect(sink.to("/invoices/in_1").map((r) => new TextDecoder().decode(r.body))).toEqual([paid]);

    const note = `skipped: stale, ${idOf(paid)} created later was delivered`;
    const shown = await runPayhook(["events", "show", idOf(failed), "--config", `${server.dir}/payhook.yaml`]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(note);
    expect(shown.stdout).toContain("order key in_1");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('payhook_deliveries_skipped_total{action="sync-invoice",reason="stale"} 1');
    await server.waitForStderr("stale event skipped");

    const replay = await runPayhook(["events", "replay", idOf(failed), "--config", `${server.dir}/payhook.yaml`]);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain(
      `${idOf(failed)} sync-invoice: runs although ${idOf(paid)}, created later, was already delivered for order key in_1`,
    );
    await sink.waitFor("/invoices/in_1", 2);
    expect(new TextDecoder().decode(sink.to("/invoices/in_1")[1]?.body)).toBe(failed);
  });

  test("200 keys in parallel are not serialised against each other, and never two at once within a key", async () => {
    server = await startServer({ config: config("run"), env: { PAYHOOK_TEST_HOOK: "hold-worker" } });
    const payloads: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (let k = 0; k < 200; k++) payloads.push(subscriptionEvent(`sub_k${k}`, round));
    }
    await Promise.all(payloads.map(async (p) => expect((await deliver(`${server?.url}/webhook`, p)).status).toBe(200)));
    const dir = server.dir;
    await server.stop();
    sink.plan("*", ["busy"]);
    server = await startServer({ config: config("run"), dir });
    await waitUntil(() => sink.requests.length >= 400, 60_000);
    await waitUntil(() => sink.requests.every((r) => r.answered !== undefined));

    expect(overlaps(sink.requests).length).toBeGreaterThan(0);
    for (let k = 0; k < 200; k++) {
      const requests = sink.to(`/subscriptions/sub_k${k}`);
      expect(requests.map(createdOf)).toEqual([T, T + 1]);
      expect(overlaps(requests)).toEqual([]);
    }
  });
});
