/** @module What operators ask the SQLite store: is it writable now (readiness), and how deep is the queue (metrics). */
import type { SqlDatabase } from "../../runtime/types.ts";
import type { QueueStats } from "../types.ts";

/** "phk1": marks the file as a payhook store, and gives the readiness probe a one-page write to make. */
const APPLICATION_ID = 0x70686b31;

/**
 * Makes one real, fsynced write (the header's application_id) and throws why it could not: locked by another
 * process (SQLITE_BUSY at once: the caller retries on timers), read-only file or file system, disk full. Only a
 * write proves writability: the store's own connection keeps working after its file is made read-only.
 */
export function probeWritable(db: SqlDatabase): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(`PRAGMA application_id=${APPLICATION_ID}`);
    db.exec("COMMIT");
  } catch (error) {
    try {
      db.exec("ROLLBACK");
    } catch {
      // SQLite may have rolled back already.
    }
    throw error;
  }
}

/** Deliveries not done, by status, and the creation time of the oldest one still to run. Index range scans only. */
export function queueStats(db: SqlDatabase): QueueStats {
  const byStatus: QueueStats["byStatus"] = {};
  const rows = db
    .prepare(
      "SELECT status, COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'running', 'failed', 'dead') GROUP BY status",
    )
    .all();
  for (const row of rows) byStatus[row.status as keyof QueueStats["byStatus"]] = Number(row.n);
  const oldest = db
    .prepare("SELECT MIN(created_at) AS oldest FROM deliveries WHERE status IN ('pending', 'running')")
    .get()?.oldest;
  return { byStatus, oldestPendingAt: oldest === null || oldest === undefined ? null : Number(oldest) };
}
