/**
 * @module The PostgreSQL rows of `make bench`: a throwaway cluster on this machine (durable: fsync and
 * synchronous_commit on, unpinned), then (1) acknowledged events/s with wrk as for SQLite, each one committed
 * before its 200, and (2) the drain rate of three instances sharing one backlog stored with the worker held.
 */
import { join } from "node:path";
import postgres from "postgres";
import { startCluster } from "../../test/helpers/postgres.ts";
import { generateEvents, writeEventsFile } from "./events.ts";
import { benchDir, LOG_HANDLER, PATH, SECRET, startPayhook, writeConfig } from "./payhook.ts";
import type { Pinned } from "./proc.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export interface PostgresSetup {
  binary: string;
  holdBinary: string;
  serverCpu: string;
  clientCpu: string;
  connections: number;
  seconds: number;
  /** Events for the ingest run (enough that none repeats). */
  events: number;
  /** Deliveries in the drain's backlog. */
  drainCount: number;
  instances: number;
}

export interface PostgresResult {
  ingest: { wrk: WrkResult; storedOk: boolean; stored: number; unanswered: number };
  drain: { deliveries: number; seconds: number; perSecond: number };
}

export async function measurePostgres(setup: PostgresSetup): Promise<PostgresResult> {
  const cluster = await startCluster({ durable: true, settings: { max_connections: "200" } });
  try {
    return {
      ingest: await ingest(setup, cluster.url(database(cluster, "ingest"))),
      drain: await drain(setup, cluster.url(database(cluster, "drain"))),
    };
  } finally {
    cluster.stop();
  }
}

function database(cluster: { psql(sql: string): string }, name: string): string {
  cluster.psql(`CREATE DATABASE ${name}`);
  return name;
}

async function ingest(setup: PostgresSetup, url: string): Promise<PostgresResult["ingest"]> {
  const dir = benchDir();
  const events = generateEvents(setup.events, SECRET);
  const eventsFile = join(dir, "events.txt");
  writeEventsFile(eventsFile, events);
  writeConfig(dir, LOG_HANDLER, 0, url);
  const proc = await startPayhook({ binary: setup.binary, dir, cpu: setup.serverCpu });
  let wrk: WrkResult;
  try {
    wrk = await runWrk({
      url: `http://127.0.0.1:${proc.port}${PATH}`,
      eventsFile,
      connections: setup.connections,
      seconds: setup.seconds,
      cpu: setup.clientCpu,
    });
    await proc.stop();
  } finally {
    await proc.kill();
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const sent = events.slice(0, Math.min(wrk.sent, events.length));
    const rows = await sql`SELECT id, body FROM payhook.events WHERE id = ANY(${sent.map((e) => e.id)})`;
    const bodies = new Map(rows.map((r) => [String(r.id), Buffer.from(r.body as Uint8Array).toString("utf8")]));
    const stored = sent.filter((e) => bodies.get(e.id) === e.body).length;
    const unanswered = wrk.sent - wrk.requests;
    return { wrk, stored, unanswered, storedOk: sent.length - stored <= unanswered && bodies.size === stored };
  } finally {
    await sql.end();
  }
}

async function drain(setup: PostgresSetup, url: string): Promise<PostgresResult["drain"]> {
  const dir = benchDir();
  writeConfig(dir, LOG_HANDLER, 0, url);
  const holder = await startPayhook({
    binary: setup.holdBinary,
    dir,
    cpu: setup.serverCpu,
    env: { PAYHOOK_TEST_HOOK: "hold-worker" },
  });
  try {
    await post(`http://127.0.0.1:${holder.port}${PATH}`, generateEvents(setup.drainCount, SECRET), 32);
  } finally {
    await holder.stop();
  }
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const servers: Pinned[] = [];
  try {
    const pending = Number((await sql`SELECT count(*) AS n FROM payhook.deliveries WHERE status = 'pending'`)[0]?.n);
    if (pending !== setup.drainCount)
      throw new Error(`drain: ${pending} pending deliveries, expected ${setup.drainCount}`);
    // Three instances on both CPUs, as three VMs would share one database.
    for (let i = 0; i < setup.instances; i++) {
      servers.push(await startPayhook({ binary: setup.binary, dir, cpu: `${setup.serverCpu},${setup.clientCpu}` }));
    }
    const deadline = Date.now() + 300_000;
    for (;;) {
      const [row] = await sql`SELECT count(*) FILTER (WHERE status = 'done') AS done,
        count(*) FILTER (WHERE status IN ('failed', 'dead') OR last_error IS NOT NULL) AS failed FROM payhook.deliveries`;
      if (Number(row?.failed) > 0) throw new Error(`drain: ${row?.failed} deliveries failed an attempt`);
      if (Number(row?.done) === setup.drainCount) break;
      if (Date.now() > deadline) throw new Error(`drain: only ${row?.done} of ${setup.drainCount} done in 300 s`);
      await Bun.sleep(50);
    }
    const [span] = await sql`SELECT min(started_at) AS first, max(finished_at) AS last FROM payhook.attempts`;
    const ms = Math.max(Number(span?.last) - Number(span?.first), 1);
    return { deliveries: setup.drainCount, seconds: ms / 1000, perSecond: setup.drainCount / (ms / 1000) };
  } finally {
    for (const s of servers) await s.stop();
    await sql.end();
  }
}

async function post(url: string, events: readonly { body: string; header: string }[], concurrency: number) {
  let next = 0;
  const sender = async () => {
    while (next < events.length) {
      const event = events[next++] as { body: string; header: string };
      const response = await fetch(url, {
        method: "POST",
        body: event.body,
        headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": event.header },
      });
      if (response.status !== 200) throw new Error(`drain: filling the store got ${response.status}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
}
