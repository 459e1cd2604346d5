/**
 * @module The PostgreSQL store's event copies and upgrades, the same answers as the SQLite store's.
 * `s` is the quoted schema name.
 */
import { toCopy, toUpgrade } from "../sqlite/copies.ts";
import type { CopyQuery, EventCopy, IncomingEvent, Upgrade } from "../types.ts";
import type { Sql } from "./client.ts";

export async function insertCopy(sql: Sql, s: string, event: IncomingEvent): Promise<boolean> {
  const rows = await sql.unsafe(
    `INSERT INTO ${s}.event_copies (id, endpoint, type, object, api_version, account, created, received_at, verified_by, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id, endpoint) DO NOTHING RETURNING id`,
    [
      event.id,
      event.endpoint,
      event.type,
      event.object,
      event.apiVersion,
      event.account,
      event.created,
      event.receivedAt,
      event.verifiedBy ?? null,
      event.body,
    ] as never[],
  );
  return rows.length > 0;
}

const COLUMNS = [
  "id",
  "endpoint",
  "type",
  "object",
  "api_version",
  "account",
  "created",
  "received_at",
  "verified_by",
  "body",
];
const select = (table: string, prefix: string) => COLUMNS.map((c) => `${table}.${c} AS ${prefix}${c}`).join(", ");

export async function copies(
  sql: Sql,
  s: string,
  query: CopyQuery,
): Promise<{ copy: EventCopy; live: EventCopy | null }[]> {
  const params: unknown[] = [query.endpoint, query.since ?? 0];
  const where = ["c.endpoint = $1", "c.received_at >= $2"];
  if (query.unmatched) where.push(`NOT EXISTS (SELECT 1 FROM ${s}.events e WHERE e.id = c.id)`);
  const paired = query.pairedWith !== undefined;
  if (paired) {
    params.push(query.pairedWith);
    where.push(`e.endpoint = $${params.length}`);
  }
  const from = paired
    ? `${select("c", "c_")}, ${select("e", "e_")} FROM ${s}.event_copies c JOIN ${s}.events e ON e.id = c.id`
    : `${select("c", "c_")} FROM ${s}.event_copies c`;
  params.push(query.limit);
  const rows = await sql.unsafe(
    `SELECT ${from} WHERE ${where.join(" AND ")} ORDER BY c.received_at DESC, c.id DESC LIMIT $${params.length}`,
    params as never[],
  );
  return rows.map((row) => ({ copy: toCopy(row, "c_"), live: paired ? toCopy(row, "e_") : null }));
}

export async function upgrades(sql: Sql, s: string): Promise<Upgrade[]> {
  const rows = await sql.unsafe(`SELECT * FROM ${s}.upgrades ORDER BY started_at, shadow_path`);
  return rows.map((row) => toUpgrade(row));
}

export async function saveUpgrade(sql: Sql, s: string, u: Upgrade): Promise<void> {
  await sql.unsafe(
    `INSERT INTO ${s}.upgrades (shadow_path, live_path, api_version, old_endpoint, new_endpoint, since, started_at, cut_over_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (shadow_path) DO UPDATE SET live_path = excluded.live_path, api_version = excluded.api_version,
       old_endpoint = excluded.old_endpoint, new_endpoint = excluded.new_endpoint, since = excluded.since,
       started_at = excluded.started_at, cut_over_at = excluded.cut_over_at`,
    [
      u.shadowPath,
      u.livePath,
      u.apiVersion,
      u.oldEndpoint,
      u.newEndpoint,
      u.since,
      u.startedAt,
      u.cutOverAt,
    ] as never[],
  );
}

export async function pruneCopies(sql: Sql, s: string, before: number): Promise<void> {
  await sql.unsafe(`DELETE FROM ${s}.event_copies WHERE received_at < $1`, [before] as never[]);
}
