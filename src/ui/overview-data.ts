/**
 * @module What the Overview screen shows (a day of activity by minute, the queue), read from the store at most
 * once per interval however many tabs ask: every open Overview refreshes on each live change, and N tabs must
 * cost the store (and the thread that also answers webhooks) one query, not N.
 */
import { CUTOVER_RETIRE_MS } from "../ops/rotation.ts";
import type { ActivityBucket, Incident, QueueStats, Store, Upgrade } from "../store/types.ts";

/** How long one reading answers every Overview: charts by the minute do not need fresher numbers. */
export const OVERVIEW_INTERVAL_MS = 2_000;
const MINUTE = 60_000;
const DAY_MINUTES = 1440;
/** Open incidents shown at most: more than a screenful means the Incidents screen, which lists them all. */
const OPEN_INCIDENTS = 20;

export interface OverviewData {
  /** When it was read. */
  at: number;
  /** The last day's activity by minute (the last hour is its last 60 buckets). */
  day: ActivityBucket[];
  queue: QueueStats;
  /** API-version upgrades not yet cut over, or whose old endpoint's secrets retired less than a day ago. */
  upgrades: Upgrade[];
  /** Alert incidents open now, newest first. */
  incidents: Incident[];
}

/** Reads the Overview's data, sharing a reading in flight or younger than `intervalMs`. */
export function createOverviewSource(
  store: Pick<Store, "activity" | "queueStats" | "upgrades" | "incidents">,
  now: () => number = Date.now,
  intervalMs = OVERVIEW_INTERVAL_MS,
): () => Promise<OverviewData> {
  let last: { started: number; data: Promise<OverviewData> } | undefined;
  return () => {
    const t = now();
    if (last && t - last.started < intervalMs) return last.data;
    const data = Promise.all([
      store.activity(t - DAY_MINUTES * MINUTE, MINUTE),
      store.queueStats(),
      store.upgrades(),
      store.incidents({ open: true, limit: OPEN_INCIDENTS }),
    ]).then(([day, queue, upgrades, incidents]) => ({
      at: t,
      day,
      queue,
      upgrades: upgrades.filter(
        (u) => u.cutOverAt === null || t - u.cutOverAt < CUTOVER_RETIRE_MS + DAY_MINUTES * MINUTE,
      ),
      incidents,
    }));
    const reading = { started: t, data };
    last = reading;
    // A failed reading is not shared: the next request tries again.
    data.catch(() => {
      if (last === reading) last = undefined;
    });
    return data;
  };
}
