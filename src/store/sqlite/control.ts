/**
 * @module Operator control on the SQLite store: pauses and breakers (table action_controls), retry now, discard, the
 * numbers of `payhook status`, and the audit trail. Writes run inside the store's write transaction.
 */
import type { SqlDatabase } from "../../runtime/types.ts";
import { toControl } from "../control.ts";
import { orderFree } from "../shared/order.ts";
import type {
  ActionControl,
  ActionStats,
  AuditEntry,
  BreakerChange,
  BreakerSettings,
  DeliveryStatus,
  DiscardResult,
  DiscardSelection,
  RetryResult,
  RetrySelection,
} from "../types.ts";

const FREE = orderFree("deliveries");

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export function controls(db: SqlDatabase): ActionControl[] {
  return db
    .prepare(
      `SELECT action, paused_at, paused_by, reason, failures, opened_at, probe_at FROM action_controls
       WHERE paused_at IS NOT NULL OR opened_at IS NOT NULL OR failures > 0 ORDER BY action`,
    )
    .all()
    .map(toControl);
}

export function setPaused(
  db: SqlDatabase,
  action: string,
  pause: { by: string; reason?: string } | null,
  now: number,
): boolean {
  if (pause) {
    return (
      Number(
        db
          .prepare(
            `INSERT INTO action_controls (action, paused_at, paused_by, reason) VALUES (?, ?, ?, ?)
             ON CONFLICT (action) DO UPDATE SET paused_at = excluded.paused_at, paused_by = excluded.paused_by,
               reason = excluded.reason WHERE action_controls.paused_at IS NULL`,
          )
          .run(action, now, pause.by, pause.reason ?? null).changes,
      ) > 0
    );
  }
  return (
    Number(
      db
        .prepare(
          `UPDATE action_controls SET paused_at = NULL, paused_by = NULL, reason = NULL, failures = 0,
             opened_at = NULL, probe_at = NULL
           WHERE action = ? AND (paused_at IS NOT NULL OR opened_at IS NOT NULL OR failures > 0)`,
        )
        .run(action).changes,
    ) > 0
  );
}

/** One statement, so a count never misses another's failure; the threshold-th failure opens the breaker. */
export function noteOutcome(
  db: SqlDatabase,
  action: string,
  ok: boolean,
  breaker: BreakerSettings,
  now: number,
): BreakerChange {
  const before = db.prepare("SELECT opened_at FROM action_controls WHERE action = ?").get(action);
  const wasOpen = before?.opened_at !== null && before?.opened_at !== undefined;
  const row = ok
    ? db
        .prepare(
          `UPDATE action_controls SET failures = 0, opened_at = NULL, probe_at = NULL WHERE action = ?
           RETURNING failures, opened_at`,
        )
        .get(action)
    : db
        .prepare(
          `INSERT INTO action_controls (action, failures) VALUES (?1, 1)
           ON CONFLICT (action) DO UPDATE SET failures = action_controls.failures + 1
           RETURNING failures, opened_at`,
        )
        .get(action);
  const failures = Number(row?.failures ?? 0);
  if (!ok) {
    if (!wasOpen && failures >= breaker.failures) {
      db.prepare("UPDATE action_controls SET opened_at = ?, probe_at = ? WHERE action = ?").run(
        now,
        now + breaker.probeMs,
        action,
      );
      return { change: "opened", failures, open: true };
    }
    return { change: null, failures, open: wasOpen };
  }
  return { change: wasOpen ? "closed" : null, failures: 0, open: false };
}

export function takeProbe(db: SqlDatabase, action: string, now: number, probeMs: number): boolean {
  return (
    Number(
      db
        .prepare(
          `UPDATE action_controls SET probe_at = ? WHERE action = ? AND opened_at IS NOT NULL AND probe_at <= ?
             AND paused_at IS NULL`,
        )
        .run(now + probeMs, action, now).changes,
    ) > 0
  );
}

export function refund(db: SqlDatabase, id: number): void {
  db.prepare("UPDATE deliveries SET attempts = attempts - 1 WHERE id = ? AND attempts > 0").run(id);
}

/** The selection as a WHERE clause over deliveries `d`, with its parameters. */
function selected(selection: RetrySelection): { where: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (selection.eventIds) {
    parts.push("d.event IN (SELECT rowid FROM events WHERE id IN (SELECT value FROM json_each(?)))");
    params.push(JSON.stringify(selection.eventIds));
  }
  if (selection.ids) {
    parts.push("d.id IN (SELECT value FROM json_each(?))");
    params.push(JSON.stringify(selection.ids));
  }
  if (selection.action !== undefined) {
    parts.push("d.action = ?");
    params.push(selection.action);
  }
  return { where: parts.length === 0 ? "0" : parts.join(" AND "), params };
}

export function retryNow(db: SqlDatabase, selection: RetrySelection, now: number): RetryResult {
  const { where, params } = selected(selection);
  const rows = db
    .prepare(
      `SELECT d.id, d.status, CASE WHEN d.status = 'pending' AND NOT ${FREE} THEN 1 ELSE 0 END AS held
       FROM deliveries d WHERE (${where}) AND d.status <> 'discarded'`,
    )
    .all(...params);
  const result: RetryResult = { moved: 0, left: { running: 0, done: 0, ordered: 0, unchosen: 0 } };
  const due: number[] = [];
  const fresh: number[] = [];
  for (const row of rows) {
    const status = String(row.status) as Exclude<DeliveryStatus, "discarded">;
    if (status === "running") result.left.running++;
    else if (status === "done") result.left.done++;
    else if (!selection.statuses.includes(status)) result.left.unchosen++;
    else if (Number(row.held) === 1) result.left.ordered++;
    else (status === "pending" ? due : fresh).push(Number(row.id));
  }
  result.moved += Number(
    db
      .prepare(
        `UPDATE deliveries SET next_at = ?, updated_at = ?
         WHERE status = 'pending' AND id IN (SELECT value FROM json_each(?))`,
      )
      .run(now, now, JSON.stringify(due)).changes,
  );
  // A fresh round, as a replay gives: `replayed` lets an old event run even under `stale: skip`.
  result.moved += Number(
    db
      .prepare(
        `UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ?, last_error = NULL, updated_at = ?,
           replayed = 1
         WHERE status IN ('failed', 'dead') AND id IN (SELECT value FROM json_each(?))`,
      )
      .run(now, now, JSON.stringify(fresh)).changes,
  );
  return result;
}

export function discard(db: SqlDatabase, selection: DiscardSelection, now: number): DiscardResult {
  const chosen = JSON.stringify(selection.statuses);
  const result: DiscardResult = { discarded: 0, left: { running: 0, unchosen: 0 } };
  for (const row of db
    .prepare(
      `SELECT status, COUNT(*) AS n FROM deliveries WHERE action = ? AND status NOT IN ('done', 'discarded')
         AND status NOT IN (SELECT value FROM json_each(?)) GROUP BY status`,
    )
    .all(selection.action, chosen)) {
    if (row.status === "running") result.left.running += Number(row.n);
    else result.left.unchosen += Number(row.n);
  }
  result.discarded = Number(
    db
      .prepare(
        `UPDATE deliveries SET status = 'discarded', updated_at = ?
         WHERE action = ? AND status IN (SELECT value FROM json_each(?)) AND status <> 'running'`,
      )
      .run(now, selection.action, chosen).changes,
  );
  return result;
}

export function actionStats(db: SqlDatabase): ActionStats[] {
  const byAction = new Map<string, ActionStats>();
  for (const row of db
    .prepare(
      `SELECT action, status, COUNT(*) AS n, MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest
       FROM deliveries WHERE status <> 'done' AND status <> 'discarded' GROUP BY action, status ORDER BY action`,
    )
    .all()) {
    const action = String(row.action);
    const stats = byAction.get(action) ?? { action, byStatus: {}, oldestPendingAt: null };
    stats.byStatus[row.status as keyof ActionStats["byStatus"]] = Number(row.n);
    if (row.oldest !== null) stats.oldestPendingAt = num(row.oldest);
    byAction.set(action, stats);
  }
  return [...byAction.values()];
}

export function endpointCounts(db: SqlDatabase, since: number): { endpoint: string; events: number }[] {
  return db
    .prepare("SELECT endpoint, COUNT(*) AS n FROM events WHERE received_at >= ? GROUP BY endpoint ORDER BY endpoint")
    .all(since)
    .map((row) => ({ endpoint: String(row.endpoint), events: Number(row.n) }));
}

export function audit(db: SqlDatabase, entry: AuditEntry): void {
  db.prepare("INSERT INTO audit (at, who, act, target, count) VALUES (?, ?, ?, ?, ?)").run(
    entry.at,
    entry.who,
    entry.act,
    entry.target,
    entry.count,
  );
}

export function auditTrail(db: SqlDatabase, limit: number): AuditEntry[] {
  return db
    .prepare("SELECT at, who, act, target, count FROM audit ORDER BY id DESC LIMIT ?")
    .all(limit)
    .map((row) => ({
      at: Number(row.at),
      who: String(row.who),
      act: String(row.act),
      target: String(row.target),
      count: Number(row.count),
    }));
}
