/**
 * @module The worker: claims due deliveries, runs their actions after the ack, and records every attempt.
 * A delivery's attempt is counted when it is claimed, before the action runs, so an action that crashes the
 * process every time still reaches its attempt cap and goes dead instead of looping forever.
 *
 * It is built the way River builds one, from parts with one state each: the producer finds work (claims, wake-ups,
 * the accept path's hand-off), the slots bound how much runs, execute runs one attempt, the completer records
 * results, and the heartbeat keeps leases. This file ties them together.
 */

import type { Action } from "../actions/types.ts";
import type { Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import type { AttemptRecord, ClaimedDelivery, Runnable, Store } from "../store/types.ts";
import { createCompleter } from "./complete.ts";
import type { Gate } from "./control.ts";
import { executor, type ThinFetcher } from "./execute.ts";
import { startHeartbeat } from "./heartbeat.ts";
import { startProducer } from "./producer.ts";
import { repeatsOnce } from "./repeats.ts";
import { createSlots } from "./slots.ts";

export interface WorkerOptions {
  store: Store;
  /** The action a delivery was created with (by name and digest), or undefined when the config no longer has it. */
  resolve(name: string, digest: string): Action | undefined;
  /** The actions this instance can run: the store leaves other deliveries to the instances that have them. */
  runnable?(): Runnable;
  runtime: Runtime;
  log: Logger;
  /** Writes a line for the `log` action; see AttemptContext.print. */
  print(line: string): void | Promise<void>;
  /** Fetches thin events' data for actions with `fetch:`; absent when the config has no stripe.api_key. */
  thin?: ThinFetcher;
  /** Deliveries run at once. */
  concurrency?: number;
  now?: () => number;
  /**
   * On stores that lease claims (PostgreSQL), how often running deliveries are renewed; a lease that ran out
   * lets another instance run the delivery, and this one's result is then ignored.
   */
  heartbeatMs?: number;
  /** Pauses, breakers and rates: actions it holds are not claimed (src/delivery/control.ts). */
  gate?: Gate;
  /** Called after each attempt with its outcome, for metrics; `skipped` when `stale: skip` marked it done unrun. */
  onAttempt?(attempt: { action: string; status: AttemptRecord["status"]; durationMs: number; skipped?: "stale" }): void;
}

export interface Worker extends Runner {
  /** Claims nothing more; waits up to `graceMs` for running actions, then leaves the rest to the next start. */
  stop(graceMs: number): Promise<void>;
  /**
   * Waits until every claim handed over by `run` has started or, when it came after stop(), is back in the queue.
   * Called once the listener has stopped, before the store closes, so a graceful stop leaves nothing running.
   */
  settled(): Promise<void>;
}

/**
 * The worker as the accept path sees it. A delivery the worker has a slot for is stored already claimed, in the
 * event's own commit, and run from the event as the accept path parsed it: no claim commit, no second read.
 */
export interface Runner {
  /** New deliveries were stored pending: look for due work now rather than at the next timer. */
  wake(): void;
  /**
   * Takes a slot for a delivery of this action about to be stored claimed; false when none is free. Each slot
   * taken is then either handed its claim with `run`, or given back with `cancel` (a duplicate, a failed commit).
   */
  reserve(action: string, digest: string): boolean;
  cancel(action: string): void;
  run(delivery: ClaimedDelivery): void;
}

export function startWorker(options: WorkerOptions): Worker {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  let stopped = false;
  const isStopped = () => stopped;
  /** Deliveries whose action is running: each holds one of the `concurrency` slots. */
  const running = new Set<Promise<void>>();
  const complete = createCompleter({ store, log, stopped: isStopped });
  const slots = createSlots(
    options.concurrency ?? 64,
    (name, digest) => options.resolve(name, digest)?.concurrency ?? Number.POSITIVE_INFINITY,
    () => ({ running: running.size, recording: complete.size() }),
    options.gate,
  );
  // The claim loop and the timer retry every second or so while the store is down: one line per outage, not per try.
  const repeats = repeatsOnce(log, now);
  const heartbeat = startHeartbeat({ store, log, now, repeats, everyMs: options.heartbeatMs });
  const execute = executor({ ...options, now });
  const producer = startProducer({
    store,
    log,
    now,
    slots,
    repeats,
    stopped: isStopped,
    start,
    runnable: options.runnable,
    gate: options.gate,
  });

  function start(delivery: ClaimedDelivery): void {
    const name = delivery.action;
    heartbeat.hold(delivery);
    const ran = execute(delivery);
    // The slot (and the action's share of its limit) is free once the action has ended; the delivery stays held
    // (its lease renewed) until its result is recorded.
    const task = ran.then(() => slots.giveBack(name));
    running.add(task);
    task.finally(() => {
      running.delete(task);
      if (!stopped) void producer.pump();
    });
    void ran.then((executed) =>
      complete.add(executed, () => {
        heartbeat.drop(delivery.id);
        if (!stopped) void producer.pump();
      }),
    );
  }

  void producer.pump();
  return {
    wake: () => {
      if (!stopped) void producer.pump();
    },
    reserve: producer.reserve,
    cancel: producer.cancel,
    run: producer.handOver,
    async stop(graceMs) {
      stopped = true;
      heartbeat.stop();
      await producer.stop();
      let expire: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => {
        expire = setTimeout(resolve, graceMs);
      });
      // Results are awaited after their actions: an action ending within the grace still has its result recorded.
      await Promise.race([Promise.allSettled([...running]).then(() => complete.settled()), grace]);
      clearTimeout(expire);
    },
    settled: producer.settled,
  };
}
