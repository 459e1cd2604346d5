/**
 * @module Which deliveries an instance may claim on a PostgreSQL store shared by instances whose configs differ (a
 * rolling config change): those of an action version (name and digest) it has loaded. Each instance announces its
 * versions in <schema>.instance_actions, renewed like a lease; a delivery whose version no live instance announces
 * any more (its instances stopped, or were upgraded) runs as the current action of its name on any instance that
 * has that name, as after a restart on SQLite. A delivery whose name no instance has stays pending.
 */
import type { Runnable } from "../types.ts";
import type { Sql } from "./client.ts";

/** The claim's parameters for `runnable`, in the order runs() numbers them from `first`. */
export function runnableParams(sql: Sql, runnable: Runnable | undefined): unknown[] {
  return [
    runnable === undefined,
    sql.array(
      (runnable?.versions ?? []).map(([name]) => name),
      25,
    ),
    sql.array(
      (runnable?.versions ?? []).map(([, digest]) => digest),
      25,
    ),
    sql.array([...(runnable?.names ?? [])], 25),
  ];
}

export interface RunsParams {
  /** The first of runnableParams' four parameters ($n). */
  first: number;
  /** The parameters holding the current time and the lease, in ms. */
  now: string;
  lease: string;
}

/** SQL true for a delivery `d` that an instance with these parameters has the very version of. */
function exact({ first }: RunsParams): string {
  return `($${first}::boolean OR (d.action, d.digest) IN (SELECT * FROM unnest($${first + 1}::text[], $${first + 2}::text[])))`;
}

/**
 * SQL true for a delivery `d` whose version no live instance announces, and whose name this instance has. `aged`
 * adds: it was created a lease ago or more, so the instance that created it had time to announce its version
 * (a reload is announced at that instance's next claim, not in the commit that stored the delivery).
 */
function orphan(s: string, p: RunsParams, aged: boolean): string {
  return `(d.action = ANY($${p.first + 3}::text[]) ${aged ? `AND d.created_at <= ${p.now}::bigint - ${p.lease}::bigint` : ""}
    AND NOT EXISTS (SELECT 1 FROM ${s}.instance_actions i
      WHERE i.action = d.action AND i.digest = d.digest AND i.until > ${p.now}::bigint))`;
}

/** SQL true for a delivery `d` that the claim may take. */
export function runs(s: string, p: RunsParams): string {
  return `(${exact(p)} OR ${orphan(s, p, true)})`;
}

/** SQL for the earliest time (ms) the claim may take a pending delivery `d` that passes candidate(). */
export function dueAt(p: RunsParams): string {
  return `CASE WHEN ${exact(p)} THEN d.next_at ELSE greatest(d.next_at, d.created_at + ${p.lease}::bigint) END`;
}

/** SQL true for a delivery `d` that the claim may take now or once it is old enough (see orphan()). */
export function candidate(s: string, p: RunsParams): string {
  return `(${exact(p)} OR ${orphan(s, p, false)})`;
}

/**
 * Announces this instance's versions until `now + leaseMs`, and forgets the announcements of instances that
 * stopped renewing theirs a lease ago (killed; a graceful stop withdraws its own).
 */
export async function announce(
  sql: Sql,
  s: string,
  instance: string,
  runnable: Runnable,
  now: number,
  leaseMs: number,
): Promise<void> {
  // SKIP LOCKED: instances tidying at the same moment pass each other by rather than wait or deadlock.
  await sql.unsafe(
    `DELETE FROM ${s}.instance_actions WHERE (instance, action, digest) IN (
       SELECT instance, action, digest FROM ${s}.instance_actions
       WHERE until <= $1::bigint - $2::bigint AND instance <> $3 FOR UPDATE SKIP LOCKED)`,
    [now, leaseMs, instance] as never[],
  );
  await sql.unsafe(
    `INSERT INTO ${s}.instance_actions (instance, action, digest, until)
     SELECT $1, x.action, x.digest, $4::bigint + $5::bigint FROM unnest($2::text[], $3::text[]) AS x(action, digest)
     ON CONFLICT (instance, action, digest) DO UPDATE SET until = EXCLUDED.until`,
    [
      instance,
      sql.array(
        runnable.versions.map(([name]) => name),
        25,
      ),
      sql.array(
        runnable.versions.map(([, digest]) => digest),
        25,
      ),
      now,
      leaseMs,
    ] as never[],
  );
}

/** Withdraws this instance's announcements: its versions run elsewhere from now on. */
export async function withdraw(sql: Sql, s: string, instance: string): Promise<void> {
  await sql.unsafe(`DELETE FROM ${s}.instance_actions WHERE instance = $1`, [instance] as never[]);
}
