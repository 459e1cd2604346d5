/**
 * @module The SQLite store's event copies and upgrades: the renderings of events kept apart from the live ones
 * (a shadow endpoint's), and the API-version upgrades with their cutover marker.
 */
import type { SqlDatabase } from "../../runtime/types.ts";
import type { CopyQuery, EventCopy, IncomingEvent, Upgrade } from "../types.ts";

/** Runs inside a write transaction; false when this endpoint's copy of the id is already kept. */
export function insertCopy(db: SqlDatabase, event: IncomingEvent): boolean {
  const row = db
    .prepare(
      `INSERT INTO event_copies (id, endpoint, type, object, api_version, account, created, received_at, verified_by, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, endpoint) DO NOTHING`,
    )
    .run(
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
    );
  return Number(row.changes) > 0;
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

export function copies(db: SqlDatabase, query: CopyQuery): { copy: EventCopy; live: EventCopy | null }[] {
  const where = ["c.endpoint = ?", "c.received_at >= ?"];
  const params: (string | number)[] = [query.endpoint, query.since ?? 0];
  if (query.unmatched) where.push("NOT EXISTS (SELECT 1 FROM events e WHERE e.id = c.id)");
  const paired = query.pairedWith !== undefined;
  if (paired) {
    where.push("e.endpoint = ?");
    params.push(query.pairedWith as string);
  }
  const from = paired
    ? `${select("c", "c_")}, ${select("e", "e_")} FROM event_copies c JOIN events e ON e.id = c.id`
    : `${select("c", "c_")} FROM event_copies c`;
  params.push(query.limit);
  return db
    .prepare(`SELECT ${from} WHERE ${where.join(" AND ")} ORDER BY c.received_at DESC, c.id DESC LIMIT ?`)
    .all(...params)
    .map((row) => ({ copy: toCopy(row, "c_"), live: paired ? toCopy(row, "e_") : null }));
}

export function upgrades(db: SqlDatabase): Upgrade[] {
  return db.prepare("SELECT * FROM upgrades ORDER BY started_at, shadow_path").all().map(toUpgrade);
}

/** Runs inside a write transaction. */
export function saveUpgrade(db: SqlDatabase, u: Upgrade): void {
  db.prepare(
    `INSERT INTO upgrades (shadow_path, live_path, api_version, old_endpoint, new_endpoint, since, started_at, cut_over_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (shadow_path) DO UPDATE SET live_path = excluded.live_path, api_version = excluded.api_version,
       old_endpoint = excluded.old_endpoint, new_endpoint = excluded.new_endpoint, since = excluded.since,
       started_at = excluded.started_at, cut_over_at = excluded.cut_over_at`,
  ).run(u.shadowPath, u.livePath, u.apiVersion, u.oldEndpoint, u.newEndpoint, u.since, u.startedAt, u.cutOverAt);
}

/** Copies older than `before` (unix ms) go with the events of their age. */
export function pruneCopies(db: SqlDatabase, before: number): void {
  db.prepare("DELETE FROM event_copies WHERE received_at < ?").run(before);
}

export function toCopy(row: Record<string, unknown>, prefix: string): EventCopy {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  const at = (name: string) => row[`${prefix}${name}`];
  return {
    id: String(at("id")),
    endpoint: String(at("endpoint")),
    type: String(at("type")),
    object: String(at("object")),
    apiVersion: text(at("api_version")),
    account: text(at("account")),
    created: Number(at("created")),
    receivedAt: Number(at("received_at")),
    verifiedBy: text(at("verified_by")),
    body: at("body") as Uint8Array,
  };
}

export function toUpgrade(row: Record<string, unknown>): Upgrade {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    shadowPath: String(row.shadow_path),
    livePath: String(row.live_path),
    apiVersion: String(row.api_version),
    oldEndpoint: text(row.old_endpoint),
    newEndpoint: text(row.new_endpoint),
    since: Number(row.since),
    startedAt: Number(row.started_at),
    cutOverAt: row.cut_over_at === null || row.cut_over_at === undefined ? null : Number(row.cut_over_at),
  };
}
