/**
 * @module What a replay from the page queues: like `payhook events replay`, each delivery is resolved against the
 * current config (its digest), and one whose action the config no longer runs for the event is skipped.
 */
import type { Config } from "../config/load.ts";
import type { Requeue, Store } from "../store/types.ts";

/** Most deliveries one bulk replay queues; the confirmation says so when more are selected. */
export const BULK_CAP = 1000;

export interface ReplayResult {
  queued: number;
  skipped: number;
}

export async function replay(
  store: Store,
  config: Config,
  wanted: readonly { eventId: string; eventType: string; action: string }[],
  now: number,
): Promise<ReplayResult> {
  const items: Requeue[] = [];
  let skipped = 0;
  for (const w of wanted) {
    const action = config.router(w.eventType).find((a) => a.name === w.action);
    if (action) items.push({ eventId: w.eventId, action: action.name, digest: action.digest });
    else skipped++;
  }
  const queued = items.length === 0 ? 0 : await store.requeue(items, now);
  return { queued, skipped };
}
