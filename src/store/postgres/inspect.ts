/**
 * @module The PostgreSQL store's inspection, replay and pruning queries (`payhook events …` and retention),
 * the same answers as the SQLite store's. `s` is the quoted schema name.
 */
import { orderFree } from "../shared/order.ts";
import { ATTEMPT_COLUMNS, EVENT_COLUMNS, toAttemptView, toDeliveryView, toEventView } from "../shared/views.ts";
import type { AttemptView, DeliveryStatus, EventDetail, EventQuery, EventView, Requeue } from "../types.ts";
import type { Row, Sql } from "./client.ts";

/** A pending delivery held behind its order key shows no next attempt (null), as on SQLite. */
const deliveryColumns = (s: string) =>
  `d.id, d.event_id, d.action, d.digest, d.status, d.attempts,
   CASE WHEN d.status = 'pending' AND NOT ${orderFree(`${s}.deliveries`)} THEN NULL ELSE d.next_at END AS next_at,
   d.last_error, d.created_at, d.updated_at, d.order_key, d.backfilled_at`;

export async function listEvents(sql: Sql, s: string, query: EventQuery): Promise<EventView[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (query.since !== undefined) where.push(`e.received_at >= ${param(query.since)}::bigint`);
  if (query.until !== undefined) where.push(`e.received_at < ${param(query.until)}::bigint`);
  if (query.search !== undefined) {
    // One parameter, four equalities: PostgreSQL ORs the primary key and the object, customer and account indexes.
    const search = param(query.search);
    where.push(
      `(e.id = ${search}::text OR e.object_id = ${search}::text OR e.customer_id = ${search}::text OR e.account = ${search}::text)`,
    );
  }
  if (query.account !== undefined) where.push(`e.account = ${param(query.account)}::text`);
  if (query.after !== undefined) {
    // Keyset pagination: the index on (received_at, id) starts right after the cursor, however deep the page.
    // Ids compare bytewise (the C collation), as on SQLite, whatever the database's collation: in the index too.
    where.push(
      `(e.received_at, e.id COLLATE "C") < (${param(query.after.receivedAt)}::bigint, ${param(query.after.id)}::text COLLATE "C")`,
    );
  }
  if (query.source !== undefined) where.push(`e.source = ${param(query.source)}::text`);
  if (query.type !== undefined && query.type !== "*") {
    if (query.type.endsWith(".*")) where.push(`starts_with(e.type, ${param(query.type.slice(0, -1))}::text)`);
    else where.push(`e.type = ${param(query.type)}::text`);
  }
  if (query.status !== undefined) {
    where.push(
      `EXISTS (SELECT 1 FROM ${s}.deliveries d WHERE d.event_id = e.id AND d.status = ${param(query.status)}::text)`,
    );
  }
  const limit = query.limit === undefined ? "" : `LIMIT ${param(query.limit)}::bigint`;
  const rows = await sql.unsafe(
    `SELECT ${EVENT_COLUMNS} FROM ${s}.events e ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY e.received_at DESC, e.id COLLATE "C" DESC ${limit}`,
    params as never[],
  );
  const events = rows.map(toEventView);
  if (events.length === 0) return events;
  const byId = new Map(events.map((e) => [e.id, e]));
  const deliveries = await sql.unsafe(
    `SELECT ${deliveryColumns(s)} FROM ${s}.deliveries d WHERE d.event_id = ANY($1::text[]) ORDER BY d.id`,
    [sql.array([...byId.keys()], 25)] as never[],
  );
  for (const row of deliveries) byId.get(String(row.event_id))?.deliveries.push(toDeliveryView(row));
  return events;
}

export async function getEvent(sql: Sql, s: string, id: string): Promise<EventDetail | null> {
  const [row] = await sql.unsafe(`SELECT ${EVENT_COLUMNS}, body FROM ${s}.events WHERE id = $1`, [id]);
  if (!row) return null;
  const deliveries = (
    await sql.unsafe(`SELECT ${deliveryColumns(s)} FROM ${s}.deliveries d WHERE d.event_id = $1 ORDER BY d.id`, [id])
  ).map((d: Row) => ({ ...toDeliveryView(d), history: [] as AttemptView[] }));
  const byId = new Map(deliveries.map((d) => [d.id, d]));
  const attempts = await sql.unsafe(
    `SELECT ${ATTEMPT_COLUMNS}
     FROM ${s}.attempts a JOIN ${s}.deliveries d ON d.id = a.delivery_id WHERE d.event_id = $1 ORDER BY a.id`,
    [id],
  );
  for (const a of attempts) byId.get(Number(a.delivery_id))?.history.push(toAttemptView(a));
  return { ...toEventView(row), body: row.body as Uint8Array, deliveries };
}

/** One transaction: finished deliveries are reset, missing ones created; pending and running ones are left alone. */
export async function requeue(
  sql: Sql,
  s: string,
  items: readonly Requeue[],
  now: number,
  only?: DeliveryStatus,
): Promise<number> {
  return (await sql.begin(async (tx) => {
    let queued = 0;
    for (const item of items) {
      const reset = await tx.unsafe(
        `UPDATE ${s}.deliveries SET status = 'pending', attempts = 0, digest = $1, next_at = $2, last_error = NULL,
           updated_at = $2, lease_owner = NULL, lease_until = NULL, order_key = $6,
           order_created = (SELECT created FROM ${s}.events WHERE id = $3), replayed = true
         WHERE event_id = $3 AND action = $4 AND status IN ('done', 'failed', 'dead') AND ($5::text IS NULL OR status = $5)
         RETURNING id`,
        [item.digest, now, item.eventId, item.action, only ?? null, item.orderKey ?? null] as never[],
      );
      queued += reset.length;
      if (reset.length === 0 && only === undefined) {
        const created = await tx.unsafe(
          `INSERT INTO ${s}.deliveries (event_id, action, digest, status, attempts, next_at, created_at, updated_at,
             order_key, order_created, replayed)
           SELECT $1, $2, $3, 'pending', 0, $4, $4, $4, $5, created, true FROM ${s}.events WHERE id = $1
           ON CONFLICT (event_id, action) DO NOTHING
           RETURNING id`,
          [item.eventId, item.action, item.digest, now, item.orderKey ?? null] as never[],
        );
        queued += created.length;
      }
    }
    return queued;
  })) as number;
}

/**
 * Deletes up to `limit` old events whose deliveries are all finished (their deliveries and attempts go with
 * them). One instance prunes at a time: the others find the lock taken and delete nothing this round.
 */
export async function prune(sql: Sql, s: string, schema: string, before: number, limit: number): Promise<number> {
  return (await sql.begin(async (tx) => {
    const [lock] = await tx.unsafe("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok", [`payhook.prune.${schema}`]);
    if (!lock?.ok) return 0;
    // An order key's newest delivered event is remembered as long as events are.
    await tx.unsafe(`DELETE FROM ${s}.order_marks WHERE updated_at < $1`, [before] as never[]);
    const deleted = await tx.unsafe(
      `DELETE FROM ${s}.events WHERE id IN (
         SELECT e.id FROM ${s}.events e WHERE e.received_at < $1
           AND NOT EXISTS (SELECT 1 FROM ${s}.deliveries d WHERE d.event_id = e.id AND d.status IN ('pending', 'running'))
         ORDER BY e.received_at LIMIT $2)
       RETURNING id`,
      [before, limit] as never[],
    );
    return deleted.length;
  })) as number;
}
