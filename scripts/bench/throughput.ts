/**
 * @module The accept-path measurement: ceiling and payhook interleaved, each run with freshly signed events,
 * the server pinned to one CPU and wrk to the other; per run the rate, latency, server CPU per request and peak
 * RSS; after each payhook run, proof that every acknowledged event is in its store with its exact bytes.
 */
import { join } from "node:path";
import { generateEvents, writeEventsFile } from "./events.ts";
import { benchDir, LOG_HANDLER, openStore, PATH, SECRET, startPayhook, writeConfig } from "./payhook.ts";
import { cpuMicros, memoryBytes, type Pinned, plainListening, startPinned } from "./proc.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export interface Setup {
  binary: string;
  serverCpu: string;
  clientCpu: string;
  events: number;
  connections: number;
  seconds: number;
}

export type Server = "ceiling" | "payhook";

export interface Run {
  server: Server;
  wrk: WrkResult;
  cpuUsPerRequest: number;
  peakRssBytes: number;
  /** payhook only: how the store compares with what was sent and acknowledged. */
  store?: StoreCheck;
  /** With `probe`: GET /healthz on one connection during the whole run. */
  probe?: WrkResult;
}

export interface RunOptions {
  /** Runs payhook under this command (the slow disk: strace delaying every fsync). */
  wrap?: string[];
  /** Probes /healthz on one more connection while the webhooks load the server. */
  probe?: boolean;
  /** payhook's handlers, instead of the quick-start config's. */
  handlers?: string;
}

export interface StoreCheck {
  /** Distinct events sent (wrk rotates, so at most the number generated). */
  distinctSent: number;
  /** Of those, how many the store has, byte for byte. */
  stored: number;
  /** Stored under the event's id but with different bytes: always a failure. */
  corrupt: number;
  /** Requests sent that got no answer before wrk stopped: an unacknowledged event may be missing. */
  unanswered: number;
  ok: boolean;
}

const CEILING = join(import.meta.dir, "ceiling.ts");

/** One run of `server` with a fresh set of events; the caller alternates servers and rounds. */
export async function measure(server: Server, setup: Setup, options: RunOptions = {}): Promise<Run> {
  const dir = benchDir();
  const events = generateEvents(setup.events, SECRET);
  const eventsFile = join(dir, "events.txt");
  writeEventsFile(eventsFile, events);
  let proc: Pinned;
  if (server === "ceiling") {
    proc = await startPinned({
      cpu: setup.serverCpu,
      argv: [process.execPath, CEILING],
      listening: plainListening,
    });
  } else {
    writeConfig(dir, options.handlers ?? LOG_HANDLER);
    proc = await startPayhook({ binary: setup.binary, dir, cpu: setup.serverCpu, wrap: options.wrap });
  }
  try {
    const before = cpuMicros(proc.pid);
    const base = { seconds: setup.seconds, cpu: setup.clientCpu };
    const [wrk, probe] = await Promise.all([
      runWrk({ ...base, url: `http://127.0.0.1:${proc.port}${PATH}`, eventsFile, connections: setup.connections }),
      options.probe ? runWrk({ ...base, url: `http://127.0.0.1:${proc.port}/healthz`, connections: 1 }) : undefined,
    ]);
    const cpu = cpuMicros(proc.pid) - before;
    const peakRssBytes = memoryBytes(proc.pid, "VmHWM");
    await proc.stop();
    const run: Run = { server, wrk, cpuUsPerRequest: cpu / Math.max(wrk.requests, 1), peakRssBytes, probe };
    if (server === "payhook") run.store = checkStore(dir, events, wrk);
    return run;
  } finally {
    await proc.kill();
  }
}

/**
 * wrk sent events[0..sent-1] in rotation; all but the `sent - requests` still in flight at the cutoff were
 * acknowledged. Every event sent is expected in the store (payhook commits in-flight requests on SIGTERM), and
 * any that is missing must be one of the unanswered ones; a stored body must equal the bytes sent.
 */
function checkStore(dir: string, events: { id: string; body: string }[], wrk: WrkResult): StoreCheck {
  const db = openStore(dir);
  try {
    const select = db.prepare("SELECT body FROM events WHERE id = ?");
    const distinctSent = Math.min(wrk.sent, events.length);
    let stored = 0;
    let corrupt = 0;
    for (const event of events.slice(0, distinctSent)) {
      const row = select.get(event.id) as { body: Uint8Array } | null;
      if (!row) continue;
      if (Buffer.from(row.body).toString("utf8") === event.body) stored += 1;
      else corrupt += 1;
    }
    const unanswered = wrk.sent - wrk.requests;
    const ok = corrupt === 0 && distinctSent - stored <= unanswered;
    return { distinctSent, stored, corrupt, unanswered, ok };
  } finally {
    db.close();
  }
}
