/**
 * @module Alerts on the PostgreSQL store, the same answers as the SQLite store's (src/store/sqlite/alerts.ts).
 * Several instances report the same conditions: the partial unique index on open incidents and conditional
 * updates decide which one's write changes anything, and only a change queues notifications, in the same
 * transaction. `s` is the quoted schema name.
 */
import { inScope, NOTIFICATION_MAX_AGE_MS, notificationBody, toIncident } from "../incidents.ts";
import type {
  AlertFacts,
  AlertWindows,
  Incident,
  IncidentReport,
  Notification,
  NotificationBody,
  NotificationResult,
} from "../types.ts";
import type { Row, Sql } from "./client.ts";

export async function alertFacts(sql: Sql, s: string, since: AlertWindows): Promise<AlertFacts> {
  const dead = await sql.unsafe(
    `SELECT action, count(*) AS n FROM ${s}.deliveries WHERE status = 'dead' AND updated_at >= $1::bigint
     GROUP BY action ORDER BY action COLLATE "C"`,
    [since.dead] as never[],
  );
  const streaks = await sql.unsafe(
    `WITH recent AS (
       SELECT d.action, a.status, a.finished_at FROM ${s}.attempts a JOIN ${s}.deliveries d ON d.id = a.delivery_id
       WHERE a.finished_at >= $1::bigint),
     last_ok AS (SELECT action, max(finished_at) AS at FROM recent WHERE status = 'done' GROUP BY action)
     SELECT r.action, count(*) AS n FROM recent r LEFT JOIN last_ok l ON l.action = r.action
     WHERE r.status <> 'done' AND r.finished_at > coalesce(l.at, -1)
     GROUP BY r.action ORDER BY r.action COLLATE "C"`,
    [since.attempts] as never[],
  );
  const events = await sql.unsafe(
    `SELECT endpoint, count(*) AS n FROM ${s}.events WHERE received_at >= $1::bigint
     GROUP BY endpoint ORDER BY endpoint COLLATE "C"`,
    [since.events] as never[],
  );
  const [fetched] = await sql.unsafe(
    `SELECT count(*) AS n FROM ${s}.events WHERE received_at >= $1::bigint AND source = 'fetched'`,
    [since.fetched] as never[],
  );
  return {
    fetched: Number(fetched?.n ?? 0),
    dead: dead.map((r: Row) => ({ action: String(r.action), dead: Number(r.n) })),
    streaks: streaks.map((r: Row) => ({ action: String(r.action), failures: Number(r.n) })),
    events: events.map((r: Row) => ({ endpoint: String(r.endpoint), events: Number(r.n) })),
  };
}

export async function recordIncidents(sql: Sql, s: string, report: IncidentReport, now: number): Promise<number> {
  return (await sql.begin(async (tx) => {
    const changes: [Incident, "open" | "resolved"][] = [];
    const open = new Set<string>();
    for (const c of report.open) {
      open.add(c.key);
      // A concurrent insert of the same key waits on the unique index, then updates: its notified_at then stays
      // the first one's, so only the instance that opened the incident (or whose turn it is to re-send) queues.
      const [row] = await tx.unsafe(
        `INSERT INTO ${s}.incidents AS i (key, rule, summary, details, count, opened_at, notified_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, $6::bigint, $6::bigint)
         ON CONFLICT (key) WHERE resolved_at IS NULL DO UPDATE SET summary = EXCLUDED.summary,
           details = EXCLUDED.details, count = EXCLUDED.count, updated_at = EXCLUDED.updated_at,
           notified_at = CASE WHEN i.notified_at <= $6::bigint - $7::bigint THEN $6::bigint ELSE i.notified_at END
         RETURNING *`,
        [c.key, c.rule, c.summary, c.details, c.count, now, report.renotifyMs] as never[],
      );
      if (row && Number(row.notified_at) === now) changes.push([toIncident(row), "open"]);
    }
    const current = await tx.unsafe(`SELECT id, key FROM ${s}.incidents WHERE resolved_at IS NULL`);
    for (const row of current) {
      const key = String(row.key);
      if (open.has(key) || !inScope(key, report.scope)) continue;
      const [resolved] = await tx.unsafe(
        `UPDATE ${s}.incidents SET resolved_at = $1::bigint, updated_at = $1::bigint
         WHERE id = $2::bigint AND resolved_at IS NULL RETURNING *`,
        [now, Number(row.id)] as never[],
      );
      if (resolved) changes.push([toIncident(resolved), "resolved"]);
    }
    for (const [incident, state] of changes) {
      const body = JSON.stringify(notificationBody(incident, state));
      for (const channel of report.channels) {
        await tx.unsafe(
          `INSERT INTO ${s}.notifications (incident_id, channel, body, status, attempts, next_at, created_at)
           VALUES ($1::bigint, $2, $3, 'pending', 0, $4::bigint, $4::bigint)`,
          [incident.id, channel, body, now] as never[],
        );
      }
    }
    return changes.length * report.channels.length;
  })) as number;
}

export async function incidents(sql: Sql, s: string, query: { open?: boolean; limit: number }): Promise<Incident[]> {
  const rows = await sql.unsafe(
    `SELECT * FROM ${s}.incidents ${query.open ? "WHERE resolved_at IS NULL" : ""}
     ORDER BY opened_at DESC, id DESC LIMIT $1::bigint`,
    [query.limit] as never[],
  );
  return rows.map(toIncident);
}

export async function claimNotifications(
  sql: Sql,
  s: string,
  now: number,
  limit: number,
  leaseMs: number,
): Promise<Notification[]> {
  await sql.unsafe(
    `UPDATE ${s}.notifications SET status = 'dropped', lease_until = NULL,
       last_error = coalesce(last_error, 'not sent') || ' (given up after 3 days)'
     WHERE status = 'pending' AND created_at < $1::bigint AND (lease_until IS NULL OR lease_until <= $2::bigint)`,
    [now - NOTIFICATION_MAX_AGE_MS, now] as never[],
  );
  const rows = await sql.unsafe(
    `UPDATE ${s}.notifications SET attempts = attempts + 1, lease_until = $1::bigint + $2::bigint
     WHERE id IN (
       SELECT n.id FROM ${s}.notifications n
       WHERE n.status = 'pending' AND n.next_at <= $1::bigint AND (n.lease_until IS NULL OR n.lease_until <= $1::bigint)
         AND NOT EXISTS (SELECT 1 FROM ${s}.notifications o WHERE o.incident_id = n.incident_id
           AND o.channel = n.channel AND o.status = 'pending' AND o.id < n.id)
       ORDER BY n.id LIMIT $3::bigint FOR UPDATE SKIP LOCKED)
       AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $1::bigint)
     RETURNING id, channel, attempts, body, created_at`,
    [now, leaseMs, limit] as never[],
  );
  return rows
    .map((r: Row) => ({
      id: Number(r.id),
      channel: String(r.channel),
      attempt: Number(r.attempts),
      body: JSON.parse(String(r.body)) as NotificationBody,
      createdAt: Number(r.created_at),
    }))
    .sort((a: Notification, b: Notification) => a.id - b.id);
}

export async function finishNotification(
  sql: Sql,
  s: string,
  result: NotificationResult,
  now: number,
): Promise<boolean> {
  const rows = await sql.unsafe(
    `UPDATE ${s}.notifications SET status = $1, next_at = $2::bigint, last_error = $3, lease_until = NULL,
       sent_at = $4::bigint
     WHERE id = $5::bigint AND attempts = $6::integer AND status = 'pending' RETURNING id`,
    [
      result.status === "retry" ? "pending" : result.status,
      result.nextAt ?? now,
      result.error ?? null,
      result.status === "sent" ? now : null,
      result.id,
      result.attempt,
    ] as never[],
  );
  return rows.length > 0;
}

/** Deletes what retention no longer keeps, as the SQLite store's pruneIncidents. */
export async function pruneIncidents(sql: Sql, s: string, before: number): Promise<void> {
  await sql.unsafe(`DELETE FROM ${s}.notifications WHERE status <> 'pending' AND created_at < $1::bigint`, [
    before,
  ] as never[]);
  await sql.unsafe(
    `DELETE FROM ${s}.incidents i WHERE i.resolved_at IS NOT NULL AND i.resolved_at < $1::bigint
       AND NOT EXISTS (SELECT 1 FROM ${s}.notifications n WHERE n.incident_id = i.id AND n.status = 'pending')`,
    [before] as never[],
  );
}
