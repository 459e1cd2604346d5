/**
 * @module Operator control on the PostgreSQL store, the same answers as the SQLite store's
 * (src/store/sqlite/control.ts): pauses and breakers shared by every instance, retry now, the numbers of
 * `payhook status`, and the audit trail. `s` is the quoted schema name.
 */
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
import type { Row, Sql } from "./client.ts";

export async function controls(sql: Sql, s: string): Promise<ActionControl[]> {
  const rows = await sql.unsafe(
    `SELECT action, paused_at, paused_by, reason, failures, opened_at, probe_at FROM ${s}.action_controls
     WHERE paused_at IS NOT NULL OR opened_at IS NOT NULL OR failures > 0 ORDER BY action COLLATE "C"`,
    [],
    { prepare: true },
  );
  return rows.map((row: Row) => toControl(row));
}

export async function setPaused(
  sql: Sql,
  s: string,
  action: string,
  pause: { by: string; reason?: string } | null,
  now: number,
): Promise<boolean> {
  const rows = pause
    ? await sql.unsafe(
        `INSERT INTO ${s}.action_controls AS c (action, paused_at, paused_by, reason) VALUES ($1, $2, $3, $4)
         ON CONFLICT (action) DO UPDATE SET paused_at = EXCLUDED.paused_at, paused_by = EXCLUDED.paused_by,
           reason = EXCLUDED.reason WHERE c.paused_at IS NULL
         RETURNING action`,
        [action, now, pause.by, pause.reason ?? null] as never[],
      )
    : await sql.unsafe(
        `UPDATE ${s}.action_controls SET paused_at = NULL, paused_by = NULL, reason = NULL, failures = 0,
           opened_at = NULL, probe_at = NULL
         WHERE action = $1 AND (paused_at IS NOT NULL OR opened_at IS NOT NULL OR failures > 0)
         RETURNING action`,
        [action] as never[],
      );
  return rows.length > 0;
}

/**
 * One statement per outcome; the row lock orders concurrent instances, so each failure is counted once and only
 * the one that reaches the threshold opens the breaker.
 */
export async function noteOutcome(
  sql: Sql,
  s: string,
  action: string,
  ok: boolean,
  breaker: BreakerSettings,
  now: number,
): Promise<BreakerChange> {
  if (ok) {
    const [row] = await sql.unsafe(
      `WITH b AS (SELECT action, opened_at FROM ${s}.action_controls WHERE action = $1 FOR UPDATE)
       UPDATE ${s}.action_controls c SET failures = 0, opened_at = NULL, probe_at = NULL FROM b
       WHERE c.action = b.action RETURNING b.opened_at AS was`,
      [action] as never[],
      { prepare: true },
    );
    const wasOpen = row !== undefined && row.was !== null;
    return { change: wasOpen ? "closed" : null, failures: 0, open: false };
  }
  const row = (await sql.begin(async (tx) => {
    // The row lock first: an instance whose failure comes second sees the breaker the first one opened.
    const [before] = await tx.unsafe(`SELECT opened_at FROM ${s}.action_controls WHERE action = $1 FOR UPDATE`, [
      action,
    ] as never[]);
    const [after] = await tx.unsafe(
      `INSERT INTO ${s}.action_controls AS c (action, failures, opened_at, probe_at)
       VALUES ($1, 1, CASE WHEN $2::int <= 1 THEN $3::bigint END, CASE WHEN $2::int <= 1 THEN $3::bigint + $4::bigint END)
       ON CONFLICT (action) DO UPDATE SET failures = c.failures + 1,
         opened_at = CASE WHEN c.opened_at IS NULL AND c.failures + 1 >= $2::int THEN $3::bigint ELSE c.opened_at END,
         probe_at = CASE WHEN c.opened_at IS NULL AND c.failures + 1 >= $2::int THEN $3::bigint + $4::bigint
           ELSE c.probe_at END
       RETURNING failures, opened_at`,
      [action, breaker.failures, now, breaker.probeMs] as never[],
    );
    return { ...after, was: before?.opened_at ?? null };
  })) as Row;
  const open = row?.opened_at !== null && row?.opened_at !== undefined;
  const wasOpen = row?.was !== null && row?.was !== undefined;
  return { change: open && !wasOpen ? "opened" : null, failures: Number(row?.failures ?? 0), open };
}

export async function takeProbe(sql: Sql, s: string, action: string, now: number, probeMs: number): Promise<boolean> {
  const rows = await sql.unsafe(
    `UPDATE ${s}.action_controls SET probe_at = $1::bigint + $2::bigint
     WHERE action = $3 AND opened_at IS NOT NULL AND probe_at <= $1::bigint AND paused_at IS NULL RETURNING action`,
    [now, probeMs, action] as never[],
    { prepare: true },
  );
  return rows.length > 0;
}

export async function refund(sql: Sql, s: string, id: number): Promise<void> {
  await sql.unsafe(`UPDATE ${s}.deliveries SET attempts = attempts - 1 WHERE id = $1 AND attempts > 0`, [
    id,
  ] as never[]);
}

export async function retryNow(sql: Sql, s: string, selection: RetrySelection, now: number): Promise<RetryResult> {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (selection.eventIds) {
    params.push(sql.array([...selection.eventIds], 25));
    parts.push(`d.event_id = ANY($${params.length}::text[])`);
  }
  if (selection.ids) {
    params.push(sql.array([...selection.ids], 20));
    parts.push(`d.id = ANY($${params.length}::bigint[])`);
  }
  if (selection.action !== undefined) {
    params.push(selection.action);
    parts.push(`d.action = $${params.length}`);
  }
  const where = parts.length === 0 ? "false" : parts.join(" AND ");
  return (await sql.begin(async (tx) => {
    const rows = await tx.unsafe(
      `SELECT d.id, d.status, (d.status = 'pending' AND NOT ${orderFree(`${s}.deliveries`)}) AS held
       FROM ${s}.deliveries d WHERE (${where}) AND d.status <> 'discarded' FOR NO KEY UPDATE OF d`,
      params as never[],
    );
    const result: RetryResult = { moved: 0, left: { running: 0, done: 0, ordered: 0, unchosen: 0 } };
    const due: number[] = [];
    const fresh: number[] = [];
    for (const row of rows) {
      const status = String(row.status) as Exclude<DeliveryStatus, "discarded">;
      if (status === "running") result.left.running++;
      else if (status === "done") result.left.done++;
      else if (!selection.statuses.includes(status)) result.left.unchosen++;
      else if (row.held === true) result.left.ordered++;
      else (status === "pending" ? due : fresh).push(Number(row.id));
    }
    const moved = await tx.unsafe(
      `UPDATE ${s}.deliveries SET next_at = $1, updated_at = $1 WHERE status = 'pending' AND id = ANY($2::bigint[])
       RETURNING id`,
      [now, tx.array(due, 20)] as never[],
    );
    // A fresh round, as a replay gives: `replayed` lets an old event run even under `stale: skip`.
    const reset = await tx.unsafe(
      `UPDATE ${s}.deliveries SET status = 'pending', attempts = 0, next_at = $1, last_error = NULL, updated_at = $1,
         lease_owner = NULL, lease_until = NULL, replayed = true
       WHERE status IN ('failed', 'dead') AND id = ANY($2::bigint[]) RETURNING id`,
      [now, tx.array(fresh, 20)] as never[],
    );
    result.moved = moved.length + reset.length;
    return result;
  })) as RetryResult;
}

export async function discard(sql: Sql, s: string, selection: DiscardSelection, now: number): Promise<DiscardResult> {
  // One statement: the rows it leaves and those it discards are counted from the same snapshot, and a delivery a
  // worker claims meanwhile is either discarded first (the claim then skips it) or left as running.
  const [row] = await sql.unsafe(
    `WITH gone AS (
       UPDATE ${s}.deliveries SET status = 'discarded', updated_at = $1::bigint, lease_owner = NULL, lease_until = NULL
       WHERE action = $2 AND status = ANY($3::text[]) AND status <> 'running' RETURNING id)
     SELECT (SELECT count(*) FROM gone)::bigint AS discarded,
       count(*) FILTER (WHERE status = 'running')::bigint AS running,
       count(*) FILTER (WHERE status <> 'running' AND NOT status = ANY($3::text[]))::bigint AS unchosen
     FROM ${s}.deliveries WHERE action = $2 AND status <> 'done' AND status <> 'discarded'`,
    [now, selection.action, sql.array([...selection.statuses], 25)] as never[],
  );
  return {
    discarded: Number(row?.discarded ?? 0),
    left: { running: Number(row?.running ?? 0), unchosen: Number(row?.unchosen ?? 0) },
  };
}

export async function actionStats(sql: Sql, s: string): Promise<ActionStats[]> {
  const rows = await sql.unsafe(
    `SELECT action, status, count(*)::bigint AS n, min(created_at) FILTER (WHERE status = 'pending') AS oldest
     FROM ${s}.deliveries WHERE status <> 'done' AND status <> 'discarded' GROUP BY action, status
     ORDER BY action COLLATE "C"`,
    [],
    { prepare: true },
  );
  const byAction = new Map<string, ActionStats>();
  for (const row of rows) {
    const action = String(row.action);
    const stats = byAction.get(action) ?? { action, byStatus: {}, oldestPendingAt: null };
    stats.byStatus[row.status as keyof ActionStats["byStatus"]] = Number(row.n);
    if (row.oldest !== null) stats.oldestPendingAt = Number(row.oldest);
    byAction.set(action, stats);
  }
  return [...byAction.values()];
}

export async function endpointCounts(sql: Sql, s: string, since: number) {
  const rows = await sql.unsafe(
    `SELECT endpoint, count(*)::bigint AS n FROM ${s}.events WHERE received_at >= $1
     GROUP BY endpoint ORDER BY endpoint COLLATE "C"`,
    [since] as never[],
  );
  return rows.map((row: Row) => ({ endpoint: String(row.endpoint), events: Number(row.n) }));
}

export async function leaseHolders(sql: Sql, s: string, now: number) {
  const rows = await sql.unsafe(
    `SELECT lease_owner, count(*)::bigint AS n FROM ${s}.deliveries
     WHERE status = 'running' AND lease_until > $1 AND lease_owner IS NOT NULL
     GROUP BY lease_owner ORDER BY lease_owner COLLATE "C"`,
    [now] as never[],
  );
  return rows.map((row: Row) => ({ instance: String(row.lease_owner), running: Number(row.n) }));
}

export async function audit(sql: Sql, s: string, entry: AuditEntry): Promise<void> {
  await sql.unsafe(`INSERT INTO ${s}.audit (at, who, act, target, count) VALUES ($1, $2, $3, $4, $5)`, [
    entry.at,
    entry.who,
    entry.act,
    entry.target,
    entry.count,
  ] as never[]);
}

export async function auditTrail(sql: Sql, s: string, limit: number): Promise<AuditEntry[]> {
  const rows = await sql.unsafe(
    `SELECT at, who, act, target, count FROM ${s}.audit ORDER BY id DESC LIMIT $1::bigint`,
    [limit] as never[],
  );
  return rows.map((row: Row) => ({
    at: Number(row.at),
    who: String(row.who),
    act: String(row.act),
    target: String(row.target),
    count: Number(row.count),
  }));
}
