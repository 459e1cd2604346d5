/**
 * @module The SQLite store's backfill and secret-rotation queries: deliveries `payhook backfill` creates for
 * events their action never ran for, and which endpoint secret verified how many events lately.
 */
import type { SqlDatabase } from "../../runtime/types.ts";
import type { Backfill, SecretUse } from "../types.ts";

/** Runs inside a write transaction. An existing delivery (any status) is left alone: the action ran, or runs. */
export function backfill(db: SqlDatabase, items: readonly Backfill[], now: number): number {
  // A backfilled ordered delivery keeps its key's order through the claim's rule (order_created, the event's
  // created): an older event's delivery goes before a newer one of the same key, whichever was stored first.
  const create = db.prepare(
    `INSERT INTO deliveries (event, event_id, action, digest, status, attempts, next_at, created_at, updated_at,
       order_key, order_created, backfilled_at)
     SELECT rowid, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, created, ? FROM events WHERE id = ?
     ON CONFLICT (event, action) DO NOTHING`,
  );
  let created = 0;
  for (const item of items) {
    const key = item.orderKey ?? null;
    created += Number(
      create.run(item.eventId, item.action, item.digest, item.dueAt, now, now, key, now, item.eventId).changes,
    );
  }
  return created;
}

export function secretUse(db: SqlDatabase, since: number): SecretUse[] {
  return db
    .prepare(
      `SELECT endpoint, verified_by, COUNT(*) AS events, MAX(received_at) AS last_at FROM events
       WHERE received_at >= ? AND verified_by IS NOT NULL GROUP BY endpoint, verified_by ORDER BY endpoint, verified_by`,
    )
    .all(since)
    .map((row) => ({
      endpoint: String(row.endpoint),
      secret: String(row.verified_by),
      events: Number(row.events),
      lastAt: Number(row.last_at),
    }));
}
