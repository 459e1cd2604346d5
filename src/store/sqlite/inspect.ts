/**
 * @module The SQLite store's inspection, replay and pruning queries (`payhook events …` and retention). Reads
 * run outside the writer's transactions, which WAL allows while a server is writing; the writes run inside them.
 */
import type { SqlDatabase, SqlValue } from "../../runtime/types.ts";
import { ATTEMPT_COLUMNS, EVENT_COLUMNS, toAttemptView, toDeliveryView, toEventView } from "../shared/views.ts";
import type { AttemptView, DeliveryStatus, EventDetail, EventQuery, EventView, Requeue } from "../types.ts";
import { searchRowids } from "./search.ts";

const DELIVERY_COLUMNS =
  "id, event_id, action, digest, status, attempts, next_at, last_error, order_key, created_at, updated_at, backfilled_at";

export function listEvents(db: SqlDatabase, query: EventQuery): EventView[] {
  const where: string[] = [];
  const params: SqlValue[] = [];
  if (query.since !== undefined) {
    where.push("e.received_at >= ?");
    params.push(query.since);
  }
  if (query.until !== undefined) {
    where.push("e.received_at < ?");
    params.push(query.until);
  }
  if (query.search !== undefined) {
    where.push(`(e.rowid IN (${searchRowids(`?${params.length + 1}`)}) OR e.account = ?${params.length + 1})`);
    params.push(query.search);
  }
  if (query.account !== undefined) {
    where.push("e.account = ?");
    params.push(query.account);
  }
  if (query.after !== undefined) {
    // Keyset pagination: the index on (received_at, id) starts right after the cursor, however deep the page.
    where.push("(e.received_at, e.id) < (?, ?)");
    params.push(query.after.receivedAt, query.after.id);
  }
  if (query.type !== undefined && query.type !== "*") {
    if (query.type.endsWith(".*")) {
      const prefix = query.type.slice(0, -1);
      where.push("substr(e.type, 1, length(?)) = ?");
      params.push(prefix, prefix);
    } else {
      where.push("e.type = ?");
      params.push(query.type);
    }
  }
  if (query.source !== undefined) {
    where.push("e.source = ?");
    params.push(query.source);
  }
  if (query.status !== undefined) {
    // The unary + keeps SQLite on the (event, action) index: by the status index it would scan every
    // delivery in that status once per event.
    where.push("EXISTS (SELECT 1 FROM deliveries d WHERE d.event = e.rowid AND +d.status = ?)");
    params.push(query.status);
  }
  const sql = `SELECT e.rowid AS row, ${EVENT_COLUMNS} FROM events e ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY e.received_at DESC, e.id DESC LIMIT ?`;
  const rows = db.prepare(sql).all(...params, query.limit ?? -1);
  const events = rows.map(toEventView);
  if (events.length === 0) return events;
  const byId = new Map(events.map((e) => [e.id, e]));
  const deliveries = db
    .prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE event IN (SELECT value FROM json_each(?)) ORDER BY id`)
    .all(JSON.stringify(rows.map((row) => row.row)));
  for (const row of deliveries) byId.get(row.event_id as string)?.deliveries.push(toDeliveryView(row));
  return events;
}

export function getEvent(db: SqlDatabase, id: string): EventDetail | null {
  const row = db.prepare(`SELECT rowid AS row, ${EVENT_COLUMNS}, body FROM events WHERE id = ?`).get(id);
  if (!row) return null;
  const rowid = Number(row.row);
  const deliveries = db
    .prepare(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE event = ? ORDER BY id`)
    .all(rowid)
    .map((d) => ({ ...toDeliveryView(d), history: [] as AttemptView[] }));
  const byId = new Map(deliveries.map((d) => [d.id, d]));
  const attempts = db
    .prepare(
      `SELECT ${ATTEMPT_COLUMNS}
       FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event = ? ORDER BY a.id`,
    )
    .all(rowid);
  for (const a of attempts) byId.get(Number(a.delivery_id))?.history.push(toAttemptView(a));
  return { ...toEventView(row), body: row.body as Uint8Array, deliveries };
}

/** Runs inside a write transaction. */
export function requeue(db: SqlDatabase, items: readonly Requeue[], now: number, only?: DeliveryStatus): number {
  // Only finished deliveries are reset: a pending or running one already belongs to a worker.
  // A replay is on purpose: `replayed` lets an old event run even under `stale: skip`.
  const reset = db.prepare(
    `UPDATE deliveries SET status = 'pending', attempts = 0, digest = ?, next_at = ?, last_error = NULL, updated_at = ?,
       order_key = ?, order_created = (SELECT created FROM events WHERE rowid = deliveries.event), replayed = 1
     WHERE event = (SELECT rowid FROM events WHERE id = ?) AND action = ? AND status IN ('done', 'failed', 'dead') AND (? IS NULL OR status = ?)`,
  );
  const create = db.prepare(
    `INSERT INTO deliveries (event, event_id, action, digest, status, attempts, next_at, created_at, updated_at,
       order_key, order_created, replayed)
     SELECT rowid, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, created, 1 FROM events WHERE id = ?
     ON CONFLICT (event, action) DO NOTHING`,
  );
  let queued = 0;
  for (const item of items) {
    const key = item.orderKey ?? null;
    const changed = Number(
      reset.run(item.digest, now, now, key, item.eventId, item.action, only ?? null, only ?? null).changes,
    );
    if (changed === 0 && only === undefined) {
      queued += Number(create.run(item.eventId, item.action, item.digest, now, now, now, key, item.eventId).changes);
    }
    queued += changed;
  }
  return queued;
}

/** Runs inside a write transaction; deliveries and attempts go with their event (events_undeliver, ON DELETE CASCADE). */
export function prune(db: SqlDatabase, before: number, limit: number): number {
  // An order key's newest delivered event is remembered as long as events are.
  db.prepare("DELETE FROM order_marks WHERE updated_at < ?").run(before);
  return Number(
    db
      .prepare(
        `DELETE FROM events WHERE rowid IN (
           SELECT e.rowid FROM events e WHERE e.received_at < ?
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event = e.rowid AND d.status IN ('pending', 'running'))
           ORDER BY e.received_at LIMIT ?)`,
      )
      .run(before, limit).changes,
  );
}
