/** @module The SQLite store's queries for the operator page: failure groups, failed deliveries, activity buckets. */
import type { SqlDatabase } from "../../runtime/types.ts";
import { mergeActivity } from "../shared/views.ts";
import type { ActivityBucket, FailedDelivery, FailureGroup } from "../types.ts";

export function failureGroups(db: SqlDatabase, limit: number): FailureGroup[] {
  return db
    .prepare(
      `SELECT action, last_error, SUM(status = 'failed') AS failed, SUM(status = 'dead') AS dead,
         MIN(updated_at) AS oldest, MAX(updated_at) AS newest
       FROM deliveries WHERE status IN ('failed', 'dead')
       GROUP BY action, last_error ORDER BY COUNT(*) DESC, action, last_error LIMIT ?`,
    )
    .all(limit)
    .map((row) => ({
      action: String(row.action),
      error: row.last_error === null ? null : String(row.last_error),
      failed: Number(row.failed),
      dead: Number(row.dead),
      oldestAt: Number(row.oldest),
      newestAt: Number(row.newest),
    }));
}

export function failedDeliveries(
  db: SqlDatabase,
  group: { action: string; error: string | null } | null,
  limit: number,
): FailedDelivery[] {
  const where = group ? "AND d.action = ? AND d.last_error IS ?" : "";
  const params = group ? [group.action, group.error] : [];
  return db
    .prepare(
      `SELECT d.event_id, e.type, d.action, d.status FROM deliveries d JOIN events e ON e.rowid = d.event
       WHERE d.status IN ('failed', 'dead') ${where} ORDER BY d.updated_at, d.id LIMIT ?`,
    )
    .all(...params, limit)
    .map((row) => ({
      eventId: String(row.event_id),
      eventType: String(row.type),
      action: String(row.action),
      status: row.status as FailedDelivery["status"],
    }));
}

export function activity(db: SqlDatabase, since: number, bucketMs: number): ActivityBucket[] {
  // Integer division by the bucket size: both counts are index range scans on their time column.
  const events = db
    .prepare("SELECT received_at - received_at % ? AS at, COUNT(*) AS n FROM events WHERE received_at >= ? GROUP BY 1")
    .all(bucketMs, since);
  const failures = db
    .prepare(
      `SELECT finished_at - finished_at % ? AS at, COUNT(*) AS n FROM attempts
       WHERE finished_at >= ? AND status <> 'done' GROUP BY 1`,
    )
    .all(bucketMs, since);
  return mergeActivity(events, failures);
}
