/**
 * @module The worker's drain rate: a store is filled with `count` events while the worker is held (the test
 * build's hold-worker switch), then the release binary starts on it and runs the backlog. The rate is
 * deliveries done over the span from the first attempt's start to the last one's finish, as recorded in the
 * store's attempts table, so start-up and polling do not count.
 */

import { join } from "node:path";
import { type GeneratedEvent, generateEvents } from "./events.ts";
import {
  benchDir,
  forwardHandler,
  LOG_HANDLER,
  openStore,
  orderedLogHandler,
  PATH,
  SECRET,
  startPayhook,
  writeConfig,
} from "./payhook.ts";
import { type Pinned, plainListening, startPinned } from "./proc.ts";

export interface DrainSetup {
  binary: string;
  /** A build with the test switches, to hold the worker while the backlog is stored. */
  holdBinary: string;
  serverCpu: string;
  clientCpu: string;
  count: number;
}

/** How many customers the events of the "log, ordered by customer" run share. */
export const ORDER_CUSTOMERS = 100;

export interface Drain {
  /** log-ordered: `order:` by the PaymentIntent, so every key is distinct (the rule's cost alone); log-by-customer:
   * by its customer, ORDER_CUSTOMERS keys, so deliveries also wait for their key's turn. */
  kind: "log" | "forward" | "log-ordered" | "log-by-customer";
  deliveries: number;
  seconds: number;
  perSecond: number;
  /** forward only: requests the sink received (at least `deliveries`; more would be retries). */
  received?: number;
}

const SINK = join(import.meta.dir, "sink.ts");

export async function measureDrain(kind: Drain["kind"], setup: DrainSetup): Promise<Drain> {
  const dir = benchDir();
  let sink: Pinned | undefined;
  try {
    if (kind === "forward") {
      sink = await startPinned({
        cpu: setup.clientCpu,
        argv: [process.execPath, SINK],
        listening: plainListening,
        keepStdout: true,
      });
      writeConfig(dir, forwardHandler(sink.port));
    } else if (kind === "log-ordered") {
      writeConfig(dir, orderedLogHandler("data.object.id"));
    } else if (kind === "log-by-customer") {
      writeConfig(dir, orderedLogHandler("data.object.customer"));
    } else {
      writeConfig(dir, LOG_HANDLER);
    }
    await fill(dir, setup, kind === "log-by-customer" ? ORDER_CUSTOMERS : undefined);
    const server = await startPayhook({ binary: setup.binary, dir, cpu: setup.serverCpu });
    try {
      await waitForDone(dir, setup.count, 300_000);
    } finally {
      await server.stop();
    }
    const span = attemptSpan(dir);
    const drain: Drain = {
      kind,
      deliveries: setup.count,
      seconds: span / 1000,
      perSecond: setup.count / (span / 1000),
    };
    if (sink) {
      await sink.stop();
      const line = sink.stdout.find((l) => l.startsWith("received "));
      drain.received = Number(line?.slice("received ".length));
    }
    return drain;
  } finally {
    await sink?.kill();
  }
}

/** Stores `count` events, one delivery each, with the worker held so that none runs yet. */
async function fill(dir: string, setup: DrainSetup, customers?: number): Promise<void> {
  const holder = await startPayhook({
    binary: setup.holdBinary,
    dir,
    cpu: setup.serverCpu,
    env: { PAYHOOK_TEST_HOOK: "hold-worker" },
  });
  try {
    const events = generateEvents(setup.count, SECRET, customers);
    await post(`http://127.0.0.1:${holder.port}${PATH}`, events, 32);
  } finally {
    await holder.stop();
  }
  const db = openStore(dir);
  try {
    const row = db.prepare("SELECT count(*) AS n FROM deliveries WHERE status = 'pending'").get() as { n: number };
    if (row.n !== setup.count) {
      throw new Error(
        `drain: expected ${setup.count} pending deliveries after filling the store, found ${row.n}; does ${setup.holdBinary} honour PAYHOOK_TEST_HOOK=hold-worker?`,
      );
    }
  } finally {
    db.close();
  }
}

async function post(url: string, events: readonly GeneratedEvent[], concurrency: number): Promise<void> {
  let next = 0;
  const sender = async () => {
    while (next < events.length) {
      const event = events[next++] as GeneratedEvent;
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

async function waitForDone(dir: string, count: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const db = openStore(dir);
  try {
    const query = db.prepare(
      // An attempt that failed once is already a failure here: its retry would be minutes away.
      "SELECT sum(status = 'done') AS done, sum(status IN ('failed', 'dead') OR last_error IS NOT NULL) AS failed FROM deliveries",
    );
    for (;;) {
      const row = query.get() as { done: number; failed: number };
      if (row.failed > 0) throw new Error(`drain: ${row.failed} deliveries failed an attempt; see the store in ${dir}`);
      if (row.done === count) return;
      if (Date.now() > deadline) throw new Error(`drain: only ${row.done} of ${count} deliveries done in ${ms} ms`);
      await Bun.sleep(50);
    }
  } finally {
    db.close();
  }
}

/** Milliseconds from the first attempt's start to the last attempt's finish. */
function attemptSpan(dir: string): number {
  const db = openStore(dir);
  try {
    const row = db.prepare("SELECT min(started_at) AS first, max(finished_at) AS last FROM attempts").get() as {
      first: number;
      last: number;
    };
    return Math.max(row.last - row.first, 1);
  } finally {
    db.close();
  }
}
