/**
 * @module The worker's slots: at most `concurrency` deliveries run at once, and an action with its own limit
 * (exec's `concurrency`) at most that many of its deliveries. Deliveries claimed past an action's limit are released
 * back to the queue at once, their attempt given back, and that action is not claimed again until it has room.
 * Holding them here instead would leave them running, with an attempt used, if payhook stopped or crashed before
 * their turn.
 */

import type { Gate } from "./control.ts";

/** What the worker has in flight, counted where it keeps the promises it waits for at stop. */
export interface Load {
  /** Deliveries whose action is running: each holds one slot. */
  running: number;
  /** Attempts whose action has ended and whose result is being recorded: they hold no slot. */
  recording: number;
}

export interface Slots {
  /** How many deliveries a claim may take now. */
  free(): number;
  /**
   * A slot is free, and not too many results wait to be recorded: results hold no slot, so the next claim can
   * share a commit with them, but at most `concurrency` of them wait, so a store that takes claims but not
   * results cannot make them pile up.
   */
  hasRoom(): boolean;
  /** The actions at their own limit, which the next claim skips. */
  atLimit(): string[];
  /** Counts a delivery of the action as running, unless the action is at its own concurrency limit. */
  take(name: string, digest: string): boolean;
  /** The delivery's action ended (or it never started): its share of the action's limit is free again. */
  giveBack(name: string): void;
  /**
   * For a delivery about to be stored claimed by the accept path: takes a slot and the action's share, or
   * nothing and false. The slot is then either handed its claim or given back with `unreserve`.
   */
  reserve(name: string, digest: string): boolean;
  /** A reserved slot is no longer reserved: its delivery started, or it was given back. */
  unreserve(): void;
}

/**
 * `limitOf` is the action's own limit (Infinity when it has none), read at each take so a reload applies;
 * `load` is what the worker has in flight.
 */
export function createSlots(
  concurrency: number,
  limitOf: (name: string, digest: string) => number,
  load: () => Load,
  gate?: Pick<Gate, "admit" | "deferred">,
): Slots {
  const active = new Map<string, number>();
  const limits = new Map<string, number>();
  /** Slots taken by reserve() for deliveries being stored claimed: not yet running, but not free either. */
  let reserved = 0;

  const slots: Slots = {
    free: () => concurrency - load().running - reserved,
    hasRoom() {
      const { running, recording } = load();
      return running + reserved < concurrency && recording <= concurrency;
    },
    atLimit() {
      const names: string[] = [];
      for (const [name, count] of active) {
        if (count >= (limits.get(name) ?? Number.POSITIVE_INFINITY)) names.push(name);
      }
      return names;
    },
    take(name, digest) {
      const count = active.get(name) ?? 0;
      const limit = limitOf(name, digest);
      limits.set(name, limit);
      if (count >= limit || (gate && !gate.admit(name))) return false;
      active.set(name, count + 1);
      return true;
    },
    giveBack(name) {
      const left = (active.get(name) ?? 1) - 1;
      if (left > 0) active.set(name, left);
      else active.delete(name);
    },
    reserve(name, digest) {
      if (!slots.hasRoom() || gate?.deferred(name) || !slots.take(name, digest)) return false;
      reserved++;
      return true;
    },
    unreserve() {
      reserved--;
    },
  };
  return slots;
}
