/**
 * @module What both stores share about incidents and their notifications: a row as an Incident, and the body
 * each change of an incident sends (the `webhook` channel's JSON; the other channels render it as text).
 */
import type { Incident, NotificationBody } from "./types.ts";

type Row = Record<string, unknown>;

/** Notifications not sent after this long are given up (the channel was down for days). */
export const NOTIFICATION_MAX_AGE_MS = 3 * 86_400_000;

export function toIncident(row: Row): Incident {
  return {
    id: Number(row.id),
    key: String(row.key),
    rule: String(row.rule),
    summary: String(row.summary),
    details: String(row.details),
    count: Number(row.count),
    openedAt: Number(row.opened_at),
    resolvedAt: row.resolved_at === null || row.resolved_at === undefined ? null : Number(row.resolved_at),
    notifiedAt: Number(row.notified_at),
    updatedAt: Number(row.updated_at),
  };
}

/** The body of a notification about `incident` as it is now. */
export function notificationBody(incident: Incident, state: "open" | "resolved"): NotificationBody {
  return {
    id: `inc_${incident.id}`,
    rule: incident.rule,
    state,
    summary: incident.summary,
    details: incident.details,
    opened_at: new Date(incident.openedAt).toISOString(),
    count: incident.count,
  };
}

/** True when `key` is covered by one of the prefixes. */
export function inScope(key: string, scope: readonly string[]): boolean {
  return scope.some((prefix) => key.startsWith(prefix));
}
