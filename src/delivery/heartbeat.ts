/**
 * @module The heartbeat: on stores that lease claims (PostgreSQL), the leases of running deliveries are renewed
 * every `everyMs`. A lease that ran out lets another instance run the delivery; this one's result is then ignored,
 * and the heartbeat says so once and stops renewing it.
 */
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ClaimedDelivery, Store } from "../store/types.ts";
import type { Repeats } from "./repeats.ts";

export interface Heartbeat {
  /** The delivery runs (or its result is being recorded): keep its lease. */
  hold(delivery: ClaimedDelivery): void;
  /** Its result is recorded: stop renewing it. */
  drop(id: number): void;
  /** One round of renewals; the timer calls it every `everyMs`. */
  renew(): Promise<void>;
  stop(): void;
}

export interface HeartbeatOptions {
  store: Pick<Store, "renew">;
  log: Logger;
  now: () => number;
  /** Renewal failures while the store is down: one line per outage, not per try. */
  repeats: Repeats;
  /** How often leases are renewed; no timer when undefined (a store without leases). */
  everyMs?: number;
}

const RENEW_FAILED = "could not renew the lease of running deliveries; trying again";

export function startHeartbeat({ store, log, now, repeats, everyMs }: HeartbeatOptions): Heartbeat {
  /** Running deliveries by id, with their claim's token. */
  const held = new Map<number, ClaimedDelivery>();
  const timer = everyMs === undefined ? undefined : setInterval(() => void renew(), everyMs);

  /** Extends the lease of every held delivery; says which were taken over (their results will be ignored). */
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

  return {
    hold: (delivery) => void held.set(delivery.id, delivery),
    drop: (id) => void held.delete(id),
    renew,
    stop: () => clearInterval(timer),
  };
}
