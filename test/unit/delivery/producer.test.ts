/**
 * The producer against a store double: claims sized to the free slots, actions at their limit skipped and their
 * overflow released before anything starts, a claim that commits as the worker stops given back, the accept
 * path's hand-off, and when it asks the store for the next due time.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { idleWait, MAX_IDLE_MS, type Producer, startProducer } from "../../../src/delivery/producer.ts";
import { repeatsOnce } from "../../../src/delivery/repeats.ts";
import { createSlots } from "../../../src/delivery/slots.ts";
import type { ClaimedDelivery } from "../../../src/store/types.ts";
import { claimed, keptLog } from "./parts.ts";

let producer: Producer | undefined;
let stopped = false;
afterEach(async () => {
  stopped = true;
  await producer?.stop();
  producer = undefined;
  stopped = false;
});

/** A producer over a queue of claimable deliveries, with `concurrency` slots and the actions' own limits. */
function setup(queue: ClaimedDelivery[], concurrency = 10, limits: Record<string, number> = {}) {
  const calls = { claims: [] as { limit: number; skip: readonly string[] }[], released: [] as number[], nextDue: 0 };
  /** Releases and starts in the order they happened. */
  const events: string[] = [];
  const started: ClaimedDelivery[] = [];
  let running = 0;
  const store = {
    claim: async (_now: number, limit: number, skip: readonly string[] = []) => {
      calls.claims.push({ limit, skip: [...skip] });
      const due = queue.filter((d) => !skip.includes(d.action)).slice(0, limit);
      queue.splice(0, queue.length, ...queue.filter((d) => !due.includes(d)));
      return due;
    },
    release: async (ids: number[]) => {
      calls.released.push(...ids);
      events.push(`release ${ids}`);
      return ids.length;
    },
    nextDue: async () => {
      calls.nextDue++;
      return null;
    },
  };
  const slots = createSlots(
    concurrency,
    (name) => limits[name] ?? Number.POSITIVE_INFINITY,
    () => ({ running, recording: 0 }),
  );
  const { log, lines } = keptLog();
  const made = startProducer({
    store,
    log,
    now: Date.now,
    slots,
    repeats: repeatsOnce(log),
    stopped: () => stopped,
    start: (d) => {
      running++;
      started.push(d);
      events.push(`start ${d.id}`);
    },
  });
  producer = made;
  return { producer: made, store, slots, calls, started, events, lines };
}

describe("producer", () => {
  test("claims as many as slots are free, and again while deliveries come", async () => {
    const { producer, calls, started } = setup(
      [1, 2, 3].map((id) => claimed(id)),
      2,
    );
    await producer.pump();
    expect(started.map((d) => d.id)).toEqual([1, 2]);
    expect(calls.claims.map((c) => c.limit)).toEqual([2]);
  });

  test("deliveries past their action's limit go back to the queue before any starts; the next claim skips it", async () => {
    const queue = [claimed(1), claimed(2), claimed(3, { action: "b" }), claimed(4)];
    const { producer, calls, events } = setup(queue, 3, { a: 1 });
    await producer.pump();
    expect(events).toEqual(["release 2", "start 1", "start 3"]);
    expect(calls.claims[1]).toEqual({ limit: 1, skip: ["a"] });
  });

  test("a claim that commits as the worker stops is given back, nothing started", async () => {
    const { producer, store, calls, started } = setup([claimed(1), claimed(2)]);
    const claim = store.claim;
    store.claim = async (...args) => {
      const got = await claim(...args);
      stopped = true;
      return got;
    };
    await producer.pump();
    expect(started).toEqual([]);
    expect(calls.released).toEqual([1, 2]);
  });

  test("a claim that fills every free slot does not ask when the next delivery is due; one that does not, asks", async () => {
    const full = setup([claimed(1), claimed(2)], 2);
    await full.producer.pump();
    await Bun.sleep(0);
    expect(full.calls.nextDue).toBe(0);
    stopped = true;
    await full.producer.stop();
    stopped = false;
    const partial = setup([claimed(1)], 2);
    await partial.producer.pump();
    await Bun.sleep(0);
    expect(partial.calls.nextDue).toBe(1);
  });

  test("a claim that fails is logged once", async () => {
    const { producer, store, lines } = setup([]);
    store.claim = () => Promise.reject(new Error("connection refused"));
    await producer.pump();
    await producer.pump();
    expect(lines.filter((l) => l.msg === "could not claim deliveries")).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", error: "connection refused" });
  });
});

describe("the accept path's hand-off", () => {
  test("a reserved slot's delivery starts on the next turn, not within the call", async () => {
    const { producer, slots, started } = setup([], 1);
    expect(producer.reserve("a", "d")).toBe(true);
    expect(producer.reserve("a", "d")).toBe(false);
    producer.handOver(claimed(9));
    expect(started).toEqual([]);
    await producer.settled();
    expect(started.map((d) => d.id)).toEqual([9]);
    expect(slots.free()).toBe(0);
  });

  test("a cancelled reservation frees its slot", async () => {
    const { producer, slots } = setup([], 1);
    expect(producer.reserve("a", "d")).toBe(true);
    producer.cancel("a");
    expect(slots.free()).toBe(1);
    expect(slots.atLimit()).toEqual([]);
  });

  test("a delivery handed over after stop goes back to the queue, its slot given back", async () => {
    const { producer, slots, calls, started } = setup([], 1, { a: 1 });
    expect(producer.reserve("a", "d")).toBe(true);
    stopped = true;
    producer.handOver(claimed(9));
    await producer.settled();
    expect(started).toEqual([]);
    expect(calls.released).toEqual([9]);
    expect(slots.free()).toBe(1);
    expect(slots.atLimit()).toEqual([]);
    expect(producer.reserve("a", "d")).toBe(false);
  });
});

test("the worker sleeps until the next due delivery, at most MAX_IDLE_MS, never less than 0", () => {
  expect(idleWait(null, 1_000)).toBe(MAX_IDLE_MS);
  expect(idleWait(1_250, 1_000)).toBe(250);
  expect(idleWait(500, 1_000)).toBe(0);
  expect(idleWait(60_000, 1_000)).toBe(MAX_IDLE_MS);
});
