/**
 * @module The producer: finds work for free slots. It claims due deliveries when woken (new deliveries stored,
 * a slot freed, another process's signal) and on a timer set for the next due one, and takes the accept path's
 * hand-off: a delivery the worker has a slot for is stored already claimed, in the event's own commit, and run from
 * the event as the accept path parsed it, with no claim commit and no second read.
 */
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ClaimedDelivery, Runnable, Store } from "../store/types.ts";
import { testHook } from "../testhooks.ts";
import type { Gate } from "./control.ts";
import type { Repeats } from "./repeats.ts";
import type { Slots } from "./slots.ts";

export interface ProducerOptions {
  store: Pick<Store, "claim" | "release" | "nextDue">;
  log: Logger;
  now: () => number;
  slots: Slots;
  /** Claim failures while the store is down: one line per outage, not per try. */
  repeats: Repeats;
  /** True once the worker stops: nothing more is claimed, and claims that come back late are given back. */
  stopped: () => boolean;
  /** Runs a claimed delivery that holds a slot. */
  start(delivery: ClaimedDelivery): void;
  /** The actions this instance can run: the store leaves other deliveries to the instances that have them. */
  runnable?(): Runnable;
  /** Pauses, breakers and rates: the actions it holds are not claimed (src/delivery/control.ts). */
  gate?: Pick<Gate, "held" | "skipped" | "wakeAt">;
}

export interface Producer {
  /** Claims due deliveries while slots are free; if a claim is running, claims again once it ends. */
  pump(): Promise<void>;
  /** Takes a slot for a delivery the accept path is about to store claimed; see Runner.reserve. */
  reserve(name: string, digest: string): boolean;
  /** Gives back a slot reserve() took, for a delivery that was not stored claimed after all. */
  cancel(name: string): void;
  /** Runs a delivery the accept path stored claimed in a slot reserve() took. */
  handOver(delivery: ClaimedDelivery): void;
  /** Resolves once every claim handed over has started or is back in the queue. */
  settled(): Promise<void>;
  /** Stops the timer; resolves once a claim running now has ended (its deliveries started or given back). */
  stop(): Promise<void>;
}

/** The longest the worker sleeps without looking, so deliveries written by another process are found. */
export const MAX_IDLE_MS = 1_000;
const CLAIM_FAILED = "could not claim deliveries";
const NEXT_DUE_FAILED = "could not read when the next delivery is due";

/** How long to sleep before the next claim, given when the next delivery is due (null: none is). */
export function idleWait(next: number | null, now: number): number {
  return next === null ? MAX_IDLE_MS : Math.min(Math.max(next - now, 0), MAX_IDLE_MS);
}

export function startProducer(options: ProducerOptions): Producer {
  const { store, slots, repeats, stopped, now } = options;
  /** The claim loop while it runs; stop() waits for it, so a claim committing at that moment is given back. */
  let pumping: Promise<void> | undefined;
  let again = false;
  /** The last claim filled every free slot: finishing deliveries will claim again, no need to ask when next is due. */
  let saturated = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const release = releaser(options);

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
        while (!stopped() && slots.hasRoom()) {
          const wanted = slots.free();
          const held = options.gate ? await options.gate.held() : [];
          const claimed = await store.claim(now(), wanted, [...slots.atLimit(), ...held], options.runnable?.());
          saturated = claimed.length === wanted;
          if (claimed.length === 0) break;
          if (stopped()) {
            // stop() came while this claim was committing: give these back rather than leave them running.
            await release(claimed.map((d) => d.id));
            break;
          }
          // Each takes one of its action's slots, or goes back to the queue when the action has none, before any
          // action starts, so an action that crashes payhook cannot use up their attempts.
          const admitted: ClaimedDelivery[] = [];
          const overflow: number[] = [];
          for (const d of claimed) {
            if (slots.take(d.action, d.digest)) admitted.push(d);
            else overflow.push(d.id);
          }
          if (overflow.length > 0) await release(overflow);
          for (const delivery of admitted) options.start(delivery);
        }
      } while (again && !stopped());
      repeats.worked(CLAIM_FAILED);
    } catch (error) {
      repeats.failed(CLAIM_FAILED, describe(error));
    }
  }

  /** Sets the timer for the next due delivery; `busy` (every slot was just filled) skips asking the store. */
  async function schedule(busy = false): Promise<void> {
    if (stopped()) return;
    let next: number | null = null;
    if (!busy) {
      try {
        next = await store.nextDue(options.runnable?.(), now(), options.gate?.skipped());
        repeats.worked(NEXT_DUE_FAILED);
      } catch (error) {
        repeats.failed(NEXT_DUE_FAILED, describe(error));
      }
    }
    if (stopped()) return;
    clearTimeout(timer);
    const free = options.gate?.wakeAt() ?? null;
    if (free !== null && (next === null || free < next)) next = free;
    timer = setTimeout(() => void pump(), idleWait(next, now()));
  }

  return {
    pump,
    ...handOff(options, pump, release),
    async stop() {
      clearTimeout(timer);
      await pumping;
    },
  };
}

/** The accept path's side of the producer: reserve, cancel, hand over, settled. */
function handOff(
  { slots, stopped, start }: ProducerOptions,
  pump: () => Promise<void>,
  release: (ids: number[]) => Promise<void>,
): Pick<Producer, "reserve" | "cancel" | "handOver" | "settled"> {
  /** Claims handed over that have neither started nor been given back to the queue yet. */
  const handed = new Set<Promise<void>>();
  return {
    reserve: (name, digest) => !stopped() && testHook !== "hold-worker" && slots.reserve(name, digest),
    cancel(name) {
      slots.unreserve();
      slots.giveBack(name);
      if (!stopped()) void pump();
    },
    handOver(delivery) {
      // On the next turn, once the answer to the request that brought the event has been written: an action that
      // brings payhook down (a poison event) must not take the 200 with it.
      const begun = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        slots.unreserve();
        if (!stopped()) return start(delivery);
        // stop() came meanwhile: given back to the queue, as a claim that came back late would be.
        slots.giveBack(delivery.action);
        return release([delivery.id]);
      });
      handed.add(begun);
      void begun.finally(() => handed.delete(begun));
    },
    async settled() {
      await Promise.allSettled([...handed]);
    },
  };
}

/** Puts claimed deliveries back in the queue; if the store refuses, they resume at the next start. */
function releaser({ store, log, now }: ProducerOptions): (ids: number[]) => Promise<void> {
  return async (ids) => {
    try {
      await store.release(ids, now());
    } catch (error) {
      log.error("could not put deliveries back in the queue; they resume at the next start", {
        deliveries: ids.length,
        error: describe(error),
      });
    }
  };
}
