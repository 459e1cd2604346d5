/**
 * @module The PostgreSQL store's backfill and secret-rotation queries, the same answers as the SQLite store's.
 * `s` is the quoted schema name.
 */
import type { Backfill, SecretUse } from "../types.ts";
import type { Sql } from "./client.ts";

/** One statement: deliveries that exist (any status) are left alone, so two rounds at once create each once. */
export async function backfill(sql: Sql, s: string, items: readonly Backfill[], now: number): Promise<number> {
  if (items.length === 0) return 0;
  const rows = await sql.unsafe(
    `INSERT INTO ${s}.deliveries (event_id, action, digest, status, attempts, next_at, created_at, updated_at,
       order_key, order_created, backfilled_at)
     SELECT x.event_id, x.action, x.digest, 'pending', 0, x.due_at, $6, $6, x.order_key, e.created, $6
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
       WITH ORDINALITY AS x(event_id, action, digest, order_key, due_at, n)
     JOIN ${s}.events e ON e.id = x.event_id ORDER BY x.n
     ON CONFLICT (event_id, action) DO NOTHING
     RETURNING id`,
    [
      sql.array(
        items.map((i) => i.eventId),
        25,
      ),
      sql.array(
        items.map((i) => i.action),
        25,
      ),
      sql.array(
        items.map((i) => i.digest),
        25,
      ),
      sql.array(
        items.map((i) => i.orderKey ?? null),
        25,
      ),
      sql.array(
        items.map((i) => i.dueAt),
        20,
      ),
      now,
    ] as never[],
  );
  return rows.length;
}

export async function secretUse(sql: Sql, s: string, since: number): Promise<SecretUse[]> {
  const rows = await sql.unsafe(
    `SELECT endpoint, verified_by, COUNT(*) AS events, MAX(received_at) AS last_at FROM ${s}.events
     WHERE received_at >= $1 AND verified_by IS NOT NULL GROUP BY endpoint, verified_by ORDER BY endpoint, verified_by`,
    [since] as never[],
  );
  return rows.map((row) => ({
    endpoint: String(row.endpoint),
    secret: String(row.verified_by),
    events: Number(row.events),
    lastAt: Number(row.last_at),
  }));
}
