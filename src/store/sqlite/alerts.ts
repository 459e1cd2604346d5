/**
 * @module Alerts on the SQLite store: the rules' aggregates, incidents (one open per key, enforced by a partial
 * unique index) and the notifications queue. Writes run inside the store's write transaction.
 */
import type { SqlDatabase } from "../../runtime/types.ts";
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

export function alertFacts(db: SqlDatabase, since: AlertWindows): AlertFacts {
  const dead = db
    .prepare(
      `SELECT action, COUNT(*) AS n FROM deliveries WHERE status = 'dead' AND updated_at >= ?
       GROUP BY action ORDER BY action`,
    )
    .all(since.dead)
    .map((r) => ({ action: String(r.action), dead: Number(r.n) }));
  // Failed attempts since each action's last success (within the window): a streak a success ends.
  const streaks = db
    .prepare(
      `WITH recent AS (
         SELECT d.action, a.status, a.finished_at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE a.finished_at >= ?)
       SELECT r.action, COUNT(*) AS n FROM recent r
       WHERE r.status <> 'done' AND r.finished_at > COALESCE(
         (SELECT MAX(s.finished_at) FROM recent s WHERE s.action = r.action AND s.status = 'done'), -1)
       GROUP BY r.action ORDER BY r.action`,
    )
    .all(since.attempts)
    .map((r) => ({ action: String(r.action), failures: Number(r.n) }));
  const events = db
    .prepare("SELECT endpoint, COUNT(*) AS n FROM events WHERE received_at >= ? GROUP BY endpoint ORDER BY endpoint")
    .all(since.events)
    .map((r) => ({ endpoint: String(r.endpoint), events: Number(r.n) }));
  const fetched = Number(
    db.prepare("SELECT COUNT(*) AS n FROM events WHERE received_at >= ? AND source = 'fetched'").get(since.fetched)
      ?.n ?? 0,
  );
  return { dead, streaks, events, fetched };
}

export function recordIncidents(db: SqlDatabase, report: IncidentReport, now: number): number {
  const changes: [Incident, "open" | "resolved"][] = [];
  const upsert = db.prepare(
    `INSERT INTO incidents (key, rule, summary, details, count, opened_at, notified_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)
     ON CONFLICT (key) WHERE resolved_at IS NULL DO UPDATE SET summary = excluded.summary,
       details = excluded.details, count = excluded.count, updated_at = excluded.updated_at,
       notified_at = CASE WHEN incidents.notified_at <= ?6 - ?7 THEN ?6 ELSE incidents.notified_at END
     RETURNING *`,
  );
  const open = new Set<string>();
  for (const c of report.open) {
    open.add(c.key);
    const row = upsert.get(c.key, c.rule, c.summary, c.details, c.count, now, report.renotifyMs);
    if (row && Number(row.notified_at) === now) changes.push([toIncident(row), "open"]);
  }
  const resolve = db.prepare(
    "UPDATE incidents SET resolved_at = ?, updated_at = ? WHERE id = ? AND resolved_at IS NULL RETURNING *",
  );
  for (const row of db.prepare("SELECT id, key FROM incidents WHERE resolved_at IS NULL").all()) {
    const key = String(row.key);
    if (open.has(key) || !inScope(key, report.scope)) continue;
    const resolved = resolve.get(now, now, Number(row.id));
    if (resolved) changes.push([toIncident(resolved), "resolved"]);
  }
  const queue = db.prepare(
    `INSERT INTO notifications (incident_id, channel, body, status, attempts, next_at, created_at)
     VALUES (?, ?, ?, 'pending', 0, ?, ?)`,
  );
  for (const [incident, state] of changes) {
    const body = JSON.stringify(notificationBody(incident, state));
    for (const channel of report.channels) queue.run(incident.id, channel, body, now, now);
  }
  return changes.length * report.channels.length;
}

export function incidents(db: SqlDatabase, query: { open?: boolean; limit: number }): Incident[] {
  return db
    .prepare(
      `SELECT * FROM incidents ${query.open ? "WHERE resolved_at IS NULL" : ""} ORDER BY opened_at DESC, id DESC LIMIT ?`,
    )
    .all(query.limit)
    .map(toIncident);
}

export function claimNotifications(db: SqlDatabase, now: number, limit: number, leaseMs: number): Notification[] {
  // Given up: still unsent after NOTIFICATION_MAX_AGE_MS.
  db.prepare(
    `UPDATE notifications SET status = 'dropped', lease_until = NULL,
       last_error = COALESCE(last_error, 'not sent') || ' (given up after 3 days)'
     WHERE status = 'pending' AND created_at < ? AND (lease_until IS NULL OR lease_until <= ?)`,
  ).run(now - NOTIFICATION_MAX_AGE_MS, now);
  return db
    .prepare(
      `UPDATE notifications SET attempts = attempts + 1, lease_until = ?1 + ?2
       WHERE id IN (
         SELECT n.id FROM notifications n
         WHERE n.status = 'pending' AND n.next_at <= ?1 AND (n.lease_until IS NULL OR n.lease_until <= ?1)
           AND NOT EXISTS (SELECT 1 FROM notifications o WHERE o.incident_id = n.incident_id
             AND o.channel = n.channel AND o.status = 'pending' AND o.id < n.id)
         ORDER BY n.id LIMIT ?3)
       RETURNING id, channel, attempts, body, created_at`,
    )
    .all(now, leaseMs, limit)
    .map((r) => ({
      id: Number(r.id),
      channel: String(r.channel),
      attempt: Number(r.attempts),
      body: JSON.parse(String(r.body)) as NotificationBody,
      createdAt: Number(r.created_at),
    }))
    .sort((a, b) => a.id - b.id);
}

export function finishNotification(db: SqlDatabase, result: NotificationResult, now: number): boolean {
  const status = result.status === "retry" ? "pending" : result.status;
  return (
    Number(
      db
        .prepare(
          `UPDATE notifications SET status = ?, next_at = ?, last_error = ?, lease_until = NULL, sent_at = ?
           WHERE id = ? AND attempts = ? AND status = 'pending'`,
        )
        .run(
          status,
          result.nextAt ?? now,
          result.error ?? null,
          result.status === "sent" ? now : null,
          result.id,
          result.attempt,
        ).changes,
    ) > 0
  );
}

/**
 * Deletes what retention no longer keeps: notifications sent or given up before `before`, and incidents resolved
 * before it with nothing left to send (their notifications go with them). Never an open incident, never a
 * pending notification.
 */
export function pruneIncidents(db: SqlDatabase, before: number): void {
  db.prepare("DELETE FROM notifications WHERE status <> 'pending' AND created_at < ?").run(before);
  db.prepare(
    `DELETE FROM incidents WHERE resolved_at IS NOT NULL AND resolved_at < ?
       AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.incident_id = incidents.id AND n.status = 'pending')`,
  ).run(before);
}
