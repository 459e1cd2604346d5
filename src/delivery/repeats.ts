/**
 * @module Repeated identical errors, logged once: a loop that retries every second while the store is down
 * (the worker's claim, its look at the next due time) would otherwise write the same line every second for
 * the whole outage. The first failure is logged as it happens; the ones after it are counted, and a summary
 * with the count and the latest error is logged at most every `everyMs` while they go on, and once when the
 * call works again.
 */
import type { Logger } from "../log.ts";

export interface Repeats {
  /** A failure of `what` (the log message) with its error text; logged if `what` was working until now. */
  failed(what: string, error: string, fields?: Record<string, unknown>): void;
  /** `what` worked: if it was failing, says so, with how many failures were not logged. */
  worked(what: string): void;
}

interface Failing {
  error: string;
  since: number;
  failures: number;
  /** Failures not logged since the last line about `what`. */
  suppressed: number;
  loggedAt: number;
}

export const SUMMARY_EVERY_MS = 30_000;

export function repeatsOnce(log: Logger, now: () => number = Date.now, everyMs = SUMMARY_EVERY_MS): Repeats {
  const failing = new Map<string, Failing>();
  return {
    failed(what, error, fields = {}) {
      const at = now();
      const last = failing.get(what);
      if (last === undefined) {
        failing.set(what, { error, since: at, failures: 1, suppressed: 0, loggedAt: at });
        log.error(what, { ...fields, error });
        return;
      }
      // An outage changes its wording as it goes (refused, shutting down, reset): still one outage.
      last.error = error;
      last.failures += 1;
      last.suppressed += 1;
      if (at - last.loggedAt >= everyMs) {
        summary(what, last, fields);
        last.suppressed = 0;
        last.loggedAt = at;
      }
    },
    worked(what) {
      const last = failing.get(what);
      if (last === undefined) return;
      failing.delete(what);
      log.info("works again after failing", {
        what,
        failures: last.failures,
        suppressed: last.suppressed,
        failing_ms: now() - last.since,
      });
    },
  };

  function summary(what: string, last: Failing, fields: Record<string, unknown>): void {
    log.error(`${what} (still failing; ${last.suppressed} repeats not logged)`, {
      ...fields,
      error: last.error,
      suppressed: last.suppressed,
      failures: last.failures,
      failing_ms: now() - last.since,
    });
  }
}
