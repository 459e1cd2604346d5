/**
 * End to end: `order:` with two dist/payhook instances on one PostgreSQL database. Events of a few objects, sent
 * newest first and spread over both instances, reach a recording service in `created` order per object, never
 * two of one object at once, while both instances claim. One throwaway cluster for the file.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { type Cluster, startCluster } from "../helpers/postgres.ts";
import { type RunningServer, startServer, waitUntil } from "../helpers/server.ts";
import { type Sink, type SinkRequest, startSink } from "../helpers/sink.ts";
import { deliver, event, SECRET } from "../helpers/stripe.ts";

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(() => cluster?.stop());

const servers: RunningServer[] = [];
let sink: Sink | undefined;
afterEach(async () => {
  for (const s of servers.splice(0)) await s.kill();
  await sink?.close();
  sink = undefined;
});

const T = Math.floor(Date.now() / 1000) - 60;
const OBJECTS = ["sub_a", "sub_b", "sub_c"];
const PER_OBJECT = 8;

function config(url: string): string {
  return `listen: { host: 127.0.0.1, port: {{port}} }
store: { url: "${url}" }
endpoints:
  - path: /webhook
    secrets: ["${SECRET}"]
handlers:
  "customer.subscription.*":
    - name: sync-subscription
      forward: { url: "${sink?.url}/subscriptions/{{data.object.id}}" }
      order: { key: "{{data.object.id}}" }
      retry: { attempts: 5, schedule: [50ms], jitter: 0 }
`;
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

test("two instances on one PostgreSQL: each object's events arrive in created order, one at a time", async () => {
  cluster.psql("CREATE DATABASE ordered");
  const url = cluster.url("ordered");
  sink = await startSink();
  // Stored first with both workers held (the test build's switch), so every event waits and both instances ingest.
  for (let i = 0; i < 2; i++) {
    servers.push(await startServer({ config: config(url), env: { PAYHOOK_TEST_HOOK: "hold-worker" } }));
  }
  const payloads = OBJECTS.flatMap((id) =>
    Array.from({ length: PER_OBJECT }, (_, n) =>
      event("customer.subscription.updated", {
        created: T + n,
        data: { object: { id, object: "subscription", status: "active" } },
      }),
    ),
  ).reverse();
  for (const [i, payload] of payloads.entries()) {
    const server = servers[i % 2] as RunningServer;
    expect((await deliver(`${server.url}/webhook`, payload)).status).toBe(200);
  }
  for (const s of servers.splice(0)) expect(await s.stop()).toBe(0);

  // A service that takes a moment (and fails some first attempts), so overlapping requests would be seen.
  for (const id of OBJECTS) sink.plan(`/subscriptions/${id}`, ["busy", "500", "busy", "busy", "503", "busy"]);
  for (let i = 0; i < 2; i++) servers.push(await startServer({ config: config(url) }));
  const db = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await waitUntil(async () => {
      const [row] = await db.unsafe("SELECT count(*)::int AS n FROM payhook.deliveries WHERE status = 'done'");
      return row?.n === OBJECTS.length * PER_OBJECT;
    }, 60_000);
  } finally {
    await db.end({ timeout: 1 });
  }
  for (const id of OBJECTS) {
    const requests = sink.to(`/subscriptions/${id}`);
    const order = requests.map(createdOf);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const delivered = requests.filter((r) => r.status === 200).map(createdOf);
    expect(delivered).toEqual(Array.from({ length: PER_OBJECT }, (_, n) => T + n));
    expect(overlaps(requests)).toEqual([]);
  }
}, 120_000);
