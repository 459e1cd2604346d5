/**
 * @module What the SQLite store writes per event, without HTTP or threads: `bun scripts/bench/wal.ts [events]`
 * stores the bench's events through SqliteStore (the writer thread's own code) in group commits of WAL_GROUP
 * (default 32, the bench's connections), each with one claimed `log` delivery whose attempt is recorded in
 * the next group's commit, as the writer thread commits what the worker queued meanwhile. It prints WAL frames
 * and bytes per event (counted by checkpointing with the frame count read back, so the figure does not depend on
 * the machine's load), and the store's CPU per event. WAL_ACTIONS=0 stores events with no delivery (the
 * no-action config); WAL_DROP=index,… measures without those indexes.
 */
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { IncomingEvent } from "../../src/store/types.ts";
import { generateEvents } from "./events.ts";

const count = Number(process.argv[2] ?? 20_000);
const group = Number(process.env.WAL_GROUP ?? 32);
const actions = Number(process.env.WAL_ACTIONS ?? 1);
const PAGE = 4096;

const dir = mkdtempSync(join(tmpdir(), "payhook-wal-"));
const path = join(dir, "payhook.db");
const raw = new Database(path, { create: true, strict: false });
const store = openSqliteStore(
  { exec: (sql) => raw.run(sql), prepare: (sql) => raw.prepare(sql) as never, close: () => raw.close() },
  path,
);
// Checkpoints are run here, by hand, so every frame the commits wrote is counted once.
raw.run("PRAGMA wal_autocheckpoint=0");
// WAL_DROP=index,…: measure without those indexes (what each costs).
for (const index of (process.env.WAL_DROP ?? "").split(",").filter(Boolean)) raw.run(`DROP INDEX ${index}`);
let frames = 0;
const checkpoint = () => {
  const row = raw.prepare("PRAGMA wal_checkpoint(RESTART)").get() as { log: number };
  frames += row.log;
};

// Signed only because generateEvents signs; nothing here verifies them.
const events: IncomingEvent[] = generateEvents(count, "whsec_wal").map(({ body }, i) => {
  const payload = JSON.parse(body);
  return {
    id: payload.id,
    type: payload.type,
    object: "event",
    livemode: false,
    account: null,
    apiVersion: payload.api_version,
    created: payload.created,
    objectId: payload.data.object.id,
    customerId: payload.data.object.customer,
    receivedAt: Date.now() + i,
    endpoint: "/webhook",
    body: new TextEncoder().encode(body),
  };
});

const cpuBefore = process.cpuUsage();
const started = performance.now();
// The previous group's attempts are recorded in the commit of the next group's events, as the writer thread
// commits whatever is queued: the worker runs a `log` action right after the ack.
let finishing: number[] = [];
const finish = (id: number, at: number) =>
  store.finish({
    deliveryId: id,
    attempt: 1,
    startedAt: at,
    finishedAt: at,
    status: "done",
    output: "PaymentIntent pi_3AbCdEfGhIjKlMnOpQrStUvW was successful!",
  });
for (let i = 0; i < events.length; i += group) {
  const slice = events.slice(i, i + group);
  const deliveries = actions ? [{ action: "log-0", digest: "d", claimed: true }] : [];
  const at = Date.now();
  const [stored] = await Promise.all([
    Promise.all(slice.map((e) => store.ingest(e, deliveries))),
    Promise.all(finishing.map((id) => finish(id, at))),
  ]);
  finishing = stored.flatMap((s) => s.claims.map((c) => c.id));
  if ((i / group) % 100 === 99) checkpoint();
}
await Promise.all(finishing.map((id) => finish(id, Date.now())));
checkpoint();
const cpu = process.cpuUsage(cpuBefore);
const seconds = (performance.now() - started) / 1000;
await store.close();
rmSync(dir, { recursive: true, force: true });
const perEvent = frames / count;
console.log(
  `${count} events, groups of ${group}, ${actions} action(s): ${perEvent.toFixed(2)} WAL frames = ` +
    `${((perEvent * (PAGE + 24)) / 1024).toFixed(1)} KB per event; store CPU ` +
    `${((cpu.user + cpu.system) / count).toFixed(1)} µs per event (${(count / seconds).toFixed(0)} events/s)`,
);
