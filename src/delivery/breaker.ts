/**
 * @module The breaker's side of an attempt's end (src/delivery/control.ts): the outcome counted in the store, which
 * every instance shares, the open and close said in the log, and a failure while open held rather than used up.
 */
import type { BreakerPolicy } from "../actions/limits.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ActionControl, AttemptRecord, ClaimedDelivery, Store } from "../store/types.ts";

/** What the breaker's side needs; the gate's options are a superset. */
export interface BreakerDeps {
  store: Store;
  log: Logger;
  /** A breaker opened or closed (metrics, the page's live view). */
  onBreaker?(action: string, change: "opened" | "closed"): void;
}

/**
 * Counts an attempt's outcome for the action's breaker and updates this instance's view at once (before its next
 * read of the store), so it stops or resumes admitting straight away; resolves whether the breaker is open now.
 */
export async function countOutcome(
  options: BreakerDeps,
  controls: Map<string, ActionControl>,
  name: string,
  ok: boolean,
  breaker: BreakerPolicy,
  now: number,
): Promise<boolean> {
  const { store, log } = options;
  const known = controls.get(name);
  try {
    const result = await store.noteOutcome(name, ok, breaker, now);
    if (result.change === "opened") {
      log.warn("breaker opened: the action is not attempted until a probe succeeds or it is resumed", {
        action: name,
        failures: result.failures,
        probe_ms: breaker.probeMs,
      });
    } else if (result.change === "closed") {
      log.info("breaker closed: a probe succeeded; held deliveries start now", { action: name });
    }
    if (result.change) {
      options.onBreaker?.(name, result.change);
      const state = result.open ? { openedAt: now, probeAt: now + breaker.probeMs } : null;
      controls.set(name, { action: name, paused: known?.paused ?? null, failures: result.failures, breaker: state });
    } else if (known) known.failures = result.failures;
    return result.open;
  } catch (error) {
    log.error("could not count an attempt for the breaker", { action: name, error: describe(error) });
    return false;
  }
}

/** A failure while the breaker is open: its attempt given back, and the delivery due again to run when let. */
export async function holdForBreaker(
  options: BreakerDeps,
  delivery: ClaimedDelivery,
  record: AttemptRecord,
): Promise<AttemptRecord> {
  try {
    await options.store.refund(delivery.id);
  } catch (error) {
    options.log.error("could not give an attempt back while the breaker is open", {
      action: delivery.action,
      error: describe(error),
    });
    return record;
  }
  const { nextAt: _nextAt, ...rest } = record;
  return { ...rest, status: "pending", nextAt: record.finishedAt };
}
