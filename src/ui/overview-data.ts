/**
 * @module What the Overview screen shows (a day of activity by minute, the queue), read from the store at most
 * once per interval however many tabs ask: every open Overview refreshes on each live change, and N tabs must
 * cost the store (and the thread that also answers webhooks) one query, not N.
 */
import type { ActivityBucket, QueueStats, Store } from "../store/types.ts";

/** How long one reading answers every Overview: charts by the minute do not need fresher numbers. */
export const OVERVIEW_INTERVAL_MS = 2_000;
const MINUTE = 60_000;
const DAY_MINUTES = 1440;

export interface OverviewData {
  /** When it was read. */
  at: number;
  /** The last day's activity by minute (the last hour is its last 60 buckets). */
  day: ActivityBucket[];
  queue: QueueStats;
}

/** Reads the Overview's data, sharing a reading in flight or younger than `intervalMs`. */
export function createOverviewSource(
  store: Pick<Store, "activity" | "queueStats">,
  now: () => number = Date.now,
  intervalMs = OVERVIEW_INTERVAL_MS,
): () => Promise<OverviewData> {
  let last: { started: number; data: Promise<OverviewData> } | undefined;
  return () => {
    const t = now();
    if (last && t - last.started < intervalMs) return last.data;
    const data = Promise.all([store.activity(t - DAY_MINUTES * MINUTE, MINUTE), store.queueStats()]).then(
      ([day, queue]) => ({ at: t, day, queue }),
    );
    const reading = { started: t, data };
    last = reading;
    // A failed reading is not shared: the next request tries again.
    data.catch(() => {
      if (last === reading) last = undefined;
    });
    return data;
  };
}
