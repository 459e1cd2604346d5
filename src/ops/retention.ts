/**
 * @module `retention:`: the server deletes events (with their deliveries and attempts) received longer ago than
 * the retention, once all their deliveries are finished. An event's id is its dedupe key, so ids are remembered
 * for at least the retention, which must cover Stripe's retries. Alert incidents resolved longer ago go too, with
 * their notifications, as do notifications sent or given up longer ago; open incidents and unsent notifications stay.
 */
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/types.ts";

/** How often the server prunes. */
const INTERVAL_MS = 3_600_000;
/** Events deleted per transaction, so a large backlog never holds the write lock for long. */
const BATCH = 500;

export interface PrunerOptions {
  store: Store;
  retentionMs: number;
  log: Logger;
  now?: () => number;
}

export interface Pruner {
  /** Prunes now; resolves with how many events were deleted. */
  prune(): Promise<number>;
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

/** Prunes once at start, then every hour. */
export function startPruner(options: PrunerOptions): Pruner {
  const { store, retentionMs, log } = options;
  const now = options.now ?? Date.now;
  let running: Promise<number> = Promise.resolve(0);
  let stopped = false;

  async function pass(): Promise<number> {
    const before = now() - retentionMs;
    let total = 0;
    try {
      for (let deleted = BATCH; deleted === BATCH && !stopped; total += deleted) {
        deleted = await store.prune(before, BATCH);
      }
      if (total > 0) log.info("pruned events older than the retention", { events: total, retention_ms: retentionMs });
    } catch (error) {
      log.error("could not prune old events; will try again", { error: describe(error) });
    }
    return total;
  }

  const prune = () => {
    running = running.then(pass);
    return running;
  };
  void prune();
  const timer = setInterval(() => void prune(), INTERVAL_MS);
  return {
    prune,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
