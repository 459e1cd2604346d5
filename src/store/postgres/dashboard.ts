/**
 * @module The PostgreSQL store's queries for the operator page: failure groups, failed deliveries, activity
 * buckets; the same answers as the SQLite store's (src/store/sqlite/dashboard.ts). `s` is the quoted schema name.
 */
import { mergeActivity } from "../shared/views.ts";
import type { ActivityBucket, FailedDelivery, FailureGroup } from "../types.ts";
import type { Row, Sql } from "./client.ts";

export async function failureGroups(sql: Sql, s: string, limit: number): Promise<FailureGroup[]> {
  // Bytewise order with deliveries without an error first, as SQLite sorts, whatever the database's collation.
  const rows = await sql.unsafe(
    `SELECT action, last_error, count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'dead') AS dead, min(updated_at) AS oldest, max(updated_at) AS newest
     FROM ${s}.deliveries WHERE status IN ('failed', 'dead')
     GROUP BY action, last_error
     ORDER BY count(*) DESC, action COLLATE "C", last_error COLLATE "C" NULLS FIRST LIMIT $1::bigint`,
    [limit] as never[],
  );
  return rows.map((row: Row) => ({
    action: String(row.action),
    error: row.last_error === null ? null : String(row.last_error),
    failed: Number(row.failed),
    dead: Number(row.dead),
    oldestAt: Number(row.oldest),
    newestAt: Number(row.newest),
  }));
}

export async function failedDeliveries(
  sql: Sql,
  s: string,
  group: { action: string; error: string | null } | null,
  limit: number,
): Promise<FailedDelivery[]> {
  // IS NOT DISTINCT FROM: the group of deliveries that failed without an error matches a null error.
  const where = group ? "AND d.action = $2::text AND d.last_error IS NOT DISTINCT FROM $3::text" : "";
  const params = group ? [limit, group.action, group.error] : [limit];
  const rows = await sql.unsafe(
    `SELECT d.event_id, e.type, d.action, d.status FROM ${s}.deliveries d JOIN ${s}.events e ON e.id = d.event_id
     WHERE d.status IN ('failed', 'dead') ${where} ORDER BY d.updated_at, d.id LIMIT $1::bigint`,
    params as never[],
  );
  return rows.map((row: Row) => ({
    eventId: String(row.event_id),
    eventType: String(row.type),
    action: String(row.action),
    status: row.status as FailedDelivery["status"],
  }));
}

export async function activity(sql: Sql, s: string, since: number, bucketMs: number): Promise<ActivityBucket[]> {
  // Integer division by the bucket size: both counts are index range scans on their time column.
  const events = await sql.unsafe(
    `SELECT received_at - received_at % $1::bigint AS at, count(*) AS n FROM ${s}.events
     WHERE received_at >= $2::bigint GROUP BY 1`,
    [bucketMs, since] as never[],
  );
  const failures = await sql.unsafe(
    `SELECT finished_at - finished_at % $1::bigint AS at, count(*) AS n FROM ${s}.attempts
     WHERE finished_at >= $2::bigint AND status <> 'done' GROUP BY 1`,
    [bucketMs, since] as never[],
  );
  return mergeActivity(events, failures);
}
