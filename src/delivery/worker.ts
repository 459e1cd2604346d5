/**
 * @module The worker: claims due deliveries, runs their actions after the ack, and records every attempt.
 * A delivery's attempt is counted when it is claimed, before the action runs, so an action that crashes the
 * process every time still reaches its attempt cap and goes dead instead of looping forever.
 */

import { replayNote, staleNote } from "../actions/order.ts";
import { nextAttemptAt } from "../actions/retry.ts";
import { type Action, type ActionEvent, idempotencyKey, type Outcome } from "../actions/types.ts";
import { describe } from "../errors.ts";
import type { Fields, Logger } from "../log.ts";
import type { Runtime } from "../runtime/types.ts";
import type { AttemptRecord, ClaimedDelivery, Runnable, Store } from "../store/types.ts";
import { StripeApiError } from "../stripe/api.ts";
import type { ThinFetcher } from "../stripe/thin.ts";
import { testHook } from "../testhooks.ts";
import { repeatsOnce } from "./repeats.ts";

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

/** The longest the worker sleeps without looking, so deliveries written by another process are found. */
const MAX_IDLE_MS = 1_000;
const utf8 = new TextDecoder();
const CLAIM_FAILED = "could not claim deliveries";
const NEXT_DUE_FAILED = "could not read when the next delivery is due";
const RENEW_FAILED = "could not renew the lease of running deliveries; trying again";

export function startWorker(options: WorkerOptions): Worker {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  const concurrency = options.concurrency ?? 64;
  /** Deliveries whose action is running: each holds one of the `concurrency` slots. */
  const running = new Set<Promise<void>>();
  /**
   * Attempts whose action has ended and whose result is being recorded. They hold no slot, so the next claim can
   * share a commit with their results; at most `concurrency` of them wait, so a store that takes claims but not
   * results cannot make them pile up.
   */
  const recording = new Set<Promise<void>>();
  // Per-action limits (exec's `concurrency`): deliveries claimed past an action's limit are released back to the
  // queue at once, their attempt given back, and that action is not claimed again until it has room. Holding them
  // here instead would leave them running, with an attempt used, if payhook stopped or crashed before their turn.
  const active = new Map<string, number>();
  const limits = new Map<string, number>();
  const overflow: number[] = [];
  /** Slots taken by reserve() for deliveries being stored claimed: not yet running, but not free either. */
  let reserved = 0;
  /** Claims handed over by run() that have neither started nor been given back to the queue yet. */
  const handed = new Set<Promise<void>>();
  let stopped = false;
  /** The claim loop while it runs; stop() waits for it, so a claim committing at that moment is given back. */
  let pumping: Promise<void> | undefined;
  let again = false;
  /** The last claim filled every free slot: finishing deliveries will claim again, no need to ask when next is due. */
  let saturated = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Running deliveries by id, with their claim's token, for the heartbeat. */
  const held = new Map<number, ClaimedDelivery>();
  // The claim loop and the timer retry every second or so while the store is down: one line per outage, not per try.
  const repeats = repeatsOnce(log, now);
  const heartbeat =
    options.heartbeatMs === undefined ? undefined : setInterval(() => void renew(), options.heartbeatMs);

  function pump(): Promise<void> {
    if (testHook === "hold-worker") return Promise.resolve();
    if (pumping) {
      again = true;
      return pumping;
    }
    pumping = claimAll().finally(() => {
      pumping = undefined;
      void schedule(saturated);
    });
    return pumping;
  }

  async function claimAll(): Promise<void> {
    try {
      do {
        again = false;
        saturated = false;
        while (!stopped && hasRoom()) {
          const wanted = concurrency - running.size - reserved;
          const claimed = await store.claim(now(), wanted, [...atLimit()], options.runnable?.());
          saturated = claimed.length === wanted;
          if (claimed.length === 0) break;
          if (stopped) {
            // stop() came while this claim was committing: give these back rather than leave them running.
            await release(claimed.map((d) => d.id));
            break;
          }
          const admitted = claimed.filter(admit);
          // Given back before any action starts, so an action that crashes payhook cannot use up their attempts.
          if (overflow.length > 0) await release(overflow.splice(0));
          for (const delivery of admitted) start(delivery);
        }
      } while (again && !stopped);
      repeats.worked(CLAIM_FAILED);
    } catch (error) {
      repeats.failed(CLAIM_FAILED, describe(error));
    }
  }

  function* atLimit(): Iterable<string> {
    for (const [name, count] of active) {
      if (count >= (limits.get(name) ?? Number.POSITIVE_INFINITY)) yield name;
    }
  }

  /** A slot is free, and not too many results wait to be recorded. */
  function hasRoom(): boolean {
    return running.size + reserved < concurrency && recording.size <= concurrency;
  }

  /** Takes one of the action's slots for a claimed delivery, or queues it for release when the action has none. */
  function admit(delivery: ClaimedDelivery): boolean {
    if (take(delivery.action, delivery.digest)) return true;
    overflow.push(delivery.id);
    return false;
  }

  /** Counts a delivery of the action as running, unless the action is at its own concurrency limit. */
  function take(name: string, digest: string): boolean {
    const count = active.get(name) ?? 0;
    const limit = options.resolve(name, digest)?.concurrency ?? Number.POSITIVE_INFINITY;
    limits.set(name, limit);
    if (count >= limit) return false;
    active.set(name, count + 1);
    return true;
  }

  function giveBack(name: string): void {
    const left = (active.get(name) ?? 1) - 1;
    if (left > 0) active.set(name, left);
    else active.delete(name);
  }

  async function release(ids: number[]): Promise<void> {
    try {
      await store.release(ids, now());
    } catch (error) {
      log.error("could not put deliveries back in the queue; they resume at the next start", {
        deliveries: ids.length,
        error: describe(error),
      });
    }
  }

  /** Extends the lease of every running delivery; says which were taken over (their results will be ignored). */
  async function renew(): Promise<void> {
    if (held.size === 0) return;
    const claims = [...held.values()].map((d) => ({ id: d.id, token: d.token }));
    try {
      const kept = new Set(await store.renew(claims, now()));
      repeats.worked(RENEW_FAILED);
      for (const d of claims) {
        const lost = held.get(d.id);
        if (kept.has(d.id) || !lost) continue;
        held.delete(d.id);
        log.warn(
          "lost the lease on a running delivery; another instance may run it too, and this result will be ignored",
          {
            event_id: lost.eventId,
            action: lost.action,
            attempt: lost.attempt,
          },
        );
      }
    } catch (error) {
      repeats.failed(RENEW_FAILED, describe(error));
    }
  }

  function start(delivery: ClaimedDelivery): void {
    const name = delivery.action;
    held.set(delivery.id, delivery);
    const ran = runDelivery(delivery);
    // The slot (and the action's share of its limit) is free once the action has ended; the delivery stays held
    // (its lease renewed) until its result is recorded.
    const task = ran.then(() => giveBack(name));
    running.add(task);
    task.finally(() => {
      running.delete(task);
      if (!stopped) void pump();
    });
    void ran.then((record) => {
      const recorded = persist(record.record, record.fields).finally(() => {
        held.delete(delivery.id);
        recording.delete(recorded);
        if (!stopped) void pump();
      });
      recording.add(recorded);
    });
  }

  /** Sets the timer for the next due delivery; `busy` (every slot was just filled) skips asking the store. */
  async function schedule(busy = false): Promise<void> {
    if (stopped) return;
    let next: number | null = null;
    if (!busy) {
      try {
        next = await store.nextDue(options.runnable?.(), now());
        repeats.worked(NEXT_DUE_FAILED);
      } catch (error) {
        repeats.failed(NEXT_DUE_FAILED, describe(error));
      }
    }
    if (stopped) return;
    clearTimeout(timer);
    const wait = next === null ? MAX_IDLE_MS : Math.min(Math.max(next - now(), 0), MAX_IDLE_MS);
    timer = setTimeout(() => void pump(), wait);
  }

  /** Runs the delivery's action (or decides not to) and returns the attempt to record. */
  async function runDelivery(delivery: ClaimedDelivery): Promise<{ record: AttemptRecord; fields: Fields }> {
    const fields = {
      event_id: delivery.eventId,
      type: delivery.eventType,
      action: delivery.action,
      attempt: delivery.attempt,
    };
    const startedAt = now();
    const action = options.resolve(delivery.action, delivery.digest);
    let outcome: Outcome;
    let fetched: string | undefined;
    // The claim ran this key's older deliveries first; a newer event for the key that was already delivered makes
    // this one stale. Serialised per key, nothing can deliver for the key between that read and this decision.
    const stale = action?.order?.stale === "skip" && delivery.newer !== undefined;
    if (stale && !delivery.replayed && delivery.newer) {
      outcome = { ok: true, output: staleNote(delivery.newer.eventId) };
    } else if (!action) {
      outcome = { ok: false, retry: false, error: `the action "${delivery.action}" is no longer in the config` };
    } else if (delivery.attempt > action.retry.attempts) {
      // Claims count attempts, so past the cap every attempt was claimed and none recorded an end: payhook died
      // while running them (a poison event that crashes it each time). Running it again could crash it forever.
      outcome = {
        ok: false,
        retry: false,
        dead: true,
        error: `not run again: its ${action.retry.attempts} attempts never finished, because payhook stopped while running each of them (a crash, kill -9 or out-of-memory kill); fix the action, then replay the event`,
      };
    } else {
      ({ outcome, fetched } = await attempt(action, delivery));
      if (stale && delivery.newer) {
        const note = replayNote(delivery.newer.eventId);
        outcome = { ...outcome, output: outcome.output ? `${note}\n${outcome.output}` : note };
      }
    }
    const record = { ...settle(delivery, action, outcome, startedAt, now()), ...(fetched ? { fetched } : {}) };
    const skipped = stale && !delivery.replayed ? ("stale" as const) : undefined;
    options.onAttempt?.({
      action: delivery.action,
      status: record.status,
      durationMs: record.finishedAt - startedAt,
      ...(skipped ? { skipped } : {}),
    });
    if (skipped)
      log.info("stale event skipped: a newer one for its order key was delivered", {
        ...fields,
        newer: delivery.newer?.eventId,
      });
    else if (record.status === "done") log.debug("action done", fields);
    else
      log.warn(`action ${record.status === "pending" ? "will be retried" : record.status}`, {
        ...fields,
        error: record.error,
        next_at: record.nextAt,
      });
    return { record, fields };
  }

  /**
   * Stores an attempt's result, trying again every MAX_IDLE_MS while the store refuses it (disk full, locked), so
   * the delivery does not stay `running` until the next start. The action is not run again for it. If payhook
   * stops first, the delivery is still `running` in the store and is resumed at the next start.
   */
  async function persist(record: AttemptRecord, fields: Fields): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        const applied = await store.finish(record);
        if (!applied) {
          // The lease ran out (this instance was cut off from the database for longer than it) and another
          // instance holds the delivery now, or a first try of this write did commit: nothing to change.
          log.warn("attempt not recorded: this instance no longer holds the delivery", {
            ...fields,
            status: record.status,
          });
        } else if (tries > 1) log.info("attempt recorded once the store took writes again", { ...fields, tries });
        return;
      } catch (error) {
        if (tries === 1) {
          log.error("could not record an attempt; trying again until the store takes it", {
            ...fields,
            error: describe(error),
          });
        }
        if (stopped) return;
        await new Promise((resolve) => setTimeout(resolve, MAX_IDLE_MS));
        if (stopped) return;
      }
    }
  }

  async function attempt(action: Action, delivery: ClaimedDelivery): Promise<{ outcome: Outcome; fetched?: string }> {
    let event: ActionEvent;
    try {
      event = {
        id: delivery.eventId,
        type: delivery.eventType,
        raw: delivery.body,
        data: delivery.data ?? JSON.parse(utf8.decode(delivery.body)),
      };
    } catch (error) {
      return { outcome: { ok: false, retry: false, error: `the stored event cannot be read: ${describe(error)}` } };
    }
    let fetched: string | undefined;
    if (action.fetch && event.data.object === "v2.core.event") {
      // A step of this delivery: a failure is this attempt's outcome, retried on the action's schedule.
      if (!options.thin) {
        return {
          outcome: {
            ok: false,
            retry: false,
            error: "this action fetches from Stripe, but the config has no stripe.api_key",
          },
        };
      }
      try {
        const data = { ...event.data, fetched: await options.thin.fetch(event.data, action.fetch) };
        fetched = JSON.stringify(data.fetched);
        event = { ...event, data, raw: new TextEncoder().encode(JSON.stringify(data)) };
      } catch (error) {
        const retry = error instanceof StripeApiError ? error.retryable : true;
        return {
          outcome: {
            ok: false,
            retry,
            error: `fetching ${action.fetch.join(" and ")} from Stripe failed: ${describe(error)}`,
          },
        };
      }
    }
    try {
      const outcome = await action.run({
        event,
        attempt: delivery.attempt,
        idempotencyKey: idempotencyKey(delivery.eventId, delivery.action),
        runtime: options.runtime,
        print: options.print,
      });
      return { outcome, ...(fetched ? { fetched } : {}) };
    } catch (error) {
      return {
        outcome: { ok: false, retry: true, error: `the action failed unexpectedly: ${describe(error)}` },
        ...(fetched ? { fetched } : {}),
      };
    }
  }

  function settle(
    delivery: ClaimedDelivery,
    action: Action | undefined,
    outcome: Outcome,
    startedAt: number,
    finishedAt: number,
  ): AttemptRecord {
    const base = {
      deliveryId: delivery.id,
      attempt: delivery.attempt,
      startedAt,
      finishedAt,
      output: outcome.output,
      ...(delivery.token === undefined ? {} : { token: delivery.token }),
    };
    if (outcome.ok) return { ...base, status: "done" };
    if (outcome.dead) return { ...base, status: "dead", error: outcome.error };
    if (!outcome.retry || !action) return { ...base, status: "failed", error: outcome.error };
    const nextAt = nextAttemptAt(action.retry, delivery.attempt, finishedAt, outcome.notBefore);
    return nextAt === null
      ? { ...base, status: "dead", error: outcome.error }
      : { ...base, status: "pending", nextAt, error: outcome.error };
  }

  void pump();
  return {
    wake: () => {
      if (!stopped) void pump();
    },
    reserve(name, digest) {
      if (stopped || testHook === "hold-worker" || !hasRoom() || !take(name, digest)) return false;
      reserved++;
      return true;
    },
    cancel(name) {
      reserved--;
      giveBack(name);
      if (!stopped) void pump();
    },
    run(delivery) {
      // On the next turn, once the answer to the request that brought the event has been written: an action that
      // brings payhook down (a poison event) must not take the 200 with it.
      const begun = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        reserved--;
        if (!stopped) return start(delivery);
        // stop() came meanwhile: given back to the queue, as a claim that came back late would be.
        giveBack(delivery.action);
        return release([delivery.id]);
      });
      handed.add(begun);
      void begun.finally(() => handed.delete(begun));
    },
    async stop(graceMs) {
      stopped = true;
      clearTimeout(timer);
      clearInterval(heartbeat);
      await pumping;
      let expire: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => {
        expire = setTimeout(resolve, graceMs);
      });
      // Results are awaited after their actions: an action ending within the grace still has its result recorded.
      await Promise.race([Promise.allSettled([...running]).then(() => Promise.allSettled([...recording])), grace]);
      clearTimeout(expire);
    },
    async settled() {
      await Promise.allSettled([...handed]);
    },
  };
}
