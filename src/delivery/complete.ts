/**
 * @module Recording results. An attempt whose action has ended gives its slot back at once and waits here until
 * its result is stored, so the next claim can share a commit with the results (the stores group concurrent
 * writes into one commit). A result the store refuses (disk full, locked) is tried again until it is taken, so the
 * delivery does not stay `running` until the next start; the action is not run again for it. If payhook stops
 * first, the delivery is still `running` in the store and is resumed at the next start.
 */
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/types.ts";
import type { Executed } from "./execute.ts";

export interface Completer {
  /** Records the attempt; `done` runs once it is recorded, or given up because the worker stopped. */
  add(executed: Executed, done: () => void): void;
  /** How many results are being recorded. */
  size(): number;
  /** Resolves once every result being recorded now is recorded or given up. */
  settled(): Promise<void>;
}

export interface CompleteOptions {
  store: Pick<Store, "finish">;
  log: Logger;
  /** True once the worker stops: a result the store refuses is then left for the next start. */
  stopped: () => boolean;
  /** The pause between tries while the store refuses a result. */
  retryMs?: number;
}

const RETRY_MS = 1_000;

export function createCompleter(options: CompleteOptions): Completer {
  const recording = new Set<Promise<void>>();
  return {
    add(executed, done) {
      const recorded = persist(executed, options).finally(() => {
        recording.delete(recorded);
        done();
      });
      recording.add(recorded);
    },
    size: () => recording.size,
    settled: () => Promise.allSettled([...recording]).then(() => {}),
  };
}

/** Stores one attempt's result, trying again every `retryMs` while the store refuses it. */
async function persist({ record, fields }: Executed, options: CompleteOptions): Promise<void> {
  const { store, log, stopped } = options;
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
      if (stopped()) return;
      await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? RETRY_MS));
      if (stopped()) return;
    }
  }
}
