/**
 * @module The accept path's required steps and nothing else, one stage at a time (FLOOR_STAGE), for
 * scripts/bench/floor.ts: what a Stripe webhook server built from the same parts costs before any of payhook's
 * own work (routing, deliveries, attempts, search indexes, actions, logs, metrics).
 * - verify: read the body, verify it with the stripe package's WebCrypto provider, answer 200;
 * - commit: and store the event's id and bytes in SQLite (WAL, synchronous=FULL), group-committed on this thread;
 * - thread: the same commit on a worker thread, as payhook does it.
 * Usage: FLOOR_STAGE=… FLOOR_DB=path bun scripts/bench/floor-server.ts; prints `listening <port>` once ready.
 */
import { Database } from "bun:sqlite";
import Stripe from "stripe";
import { SECRET } from "./payhook.ts";

const stage = process.env.FLOOR_STAGE ?? "verify";
const path = process.env.FLOOR_DB ?? ":memory:";
const provider = Stripe.createSubtleCryptoProvider();
const RECEIVED = '{"received":true}';

if (!Bun.isMainThread) {
  // The writer thread: each message is a batch of events, committed in one transaction; answers when durable.
  const commit = committer(path);
  self.onmessage = (message: MessageEvent<{ id: string; body: string }[]>) => {
    commit(message.data);
    postMessage(message.data.length);
  };
} else {
  const store = stage === "verify" ? undefined : stage === "commit" ? groupCommit(committer(path)) : threaded();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const body = await request.text();
      const event = await Stripe.webhooks.constructEventAsync(
        body,
        request.headers.get("stripe-signature") ?? "",
        SECRET,
        undefined,
        provider,
      );
      await store?.({ id: event.id, body });
      return new Response(RECEIVED, { headers: { "content-type": "application/json" } });
    },
  });
  console.log(`listening ${server.port}`);
  process.on("SIGTERM", () => process.exit(0));
}

function committer(file: string): (events: { id: string; body: string }[]) => void {
  const db = new Database(file);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=FULL");
  db.exec("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, body BLOB NOT NULL)");
  const insert = db.prepare("INSERT INTO events (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING");
  return db.transaction((events: { id: string; body: string }[]) => {
    for (const e of events) insert.run(e.id, Buffer.from(e.body));
  });
}

/** Everything that arrives while a batch is pending joins it; one commit per turn of the event loop. */
function groupCommit(commit: (events: { id: string; body: string }[]) => void) {
  let batch: { event: { id: string; body: string }; done: () => void }[] = [];
  return (event: { id: string; body: string }) =>
    new Promise<void>((done) => {
      if (batch.length === 0) {
        setImmediate(() => {
          const taken = batch;
          batch = [];
          commit(taken.map((b) => b.event));
          for (const b of taken) b.done();
        });
      }
      batch.push({ event, done });
    });
}

/** One message in flight to the writer thread; what queues meanwhile leaves together when it answers. */
function threaded() {
  const worker = new Worker(import.meta.url);
  let queued: { event: { id: string; body: string }; done: () => void }[] = [];
  let inFlight: typeof queued | undefined;
  const send = () => {
    inFlight = queued;
    queued = [];
    worker.postMessage(inFlight.map((q) => q.event));
  };
  worker.onmessage = () => {
    for (const q of inFlight ?? []) q.done();
    inFlight = undefined;
    if (queued.length > 0) send();
  };
  return (event: { id: string; body: string }) =>
    new Promise<void>((done) => {
      queued.push({ event, done });
      if (!inFlight) send();
    });
}
