/**
 * @module Rows into the views `payhook events` and the operator page show, the same on every store: the mappers
 * accept either driver's values (SQLite's 0/1 and bigint-free numbers, PostgreSQL's booleans and strings).
 */
import type { ActivityBucket, AttemptView, DeliveryStatus, DeliveryView, EventView } from "../types.ts";

/** A row as a driver returns it: columns by name. */
export type Row = Record<string, unknown>;

/** The columns every store selects for an EventView, in this order. */
export const EVENT_COLUMNS =
  "id, type, object, livemode, account, api_version, created, received_at, endpoint, object_id, customer_id, source, verified_by";

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

export function toEventView(row: Row): EventView {
  return {
    id: String(row.id),
    type: String(row.type),
    object: String(row.object),
    // SQLite stores 0 or 1, PostgreSQL a boolean: Number(true) is 1.
    livemode: Number(row.livemode) === 1,
    account: text(row.account),
    apiVersion: text(row.api_version),
    created: Number(row.created),
    receivedAt: Number(row.received_at),
    endpoint: String(row.endpoint),
    objectId: text(row.object_id),
    customerId: text(row.customer_id),
    source: row.source === "fetched" ? "fetched" : "pushed",
    verifiedBy: text(row.verified_by),
    deliveries: [],
  };
}

export function toDeliveryView(row: Row): DeliveryView {
  return {
    id: Number(row.id),
    action: String(row.action),
    digest: String(row.digest),
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    nextAt: row.next_at === null ? null : Number(row.next_at),
    lastError: text(row.last_error),
    orderKey: text(row.order_key),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    backfilledAt: row.backfilled_at === null || row.backfilled_at === undefined ? null : Number(row.backfilled_at),
  };
}

/** The columns every store selects for an AttemptView (with `delivery_id`, to place it), from attempts `a`. */
export const ATTEMPT_COLUMNS =
  "a.delivery_id, a.attempt, a.started_at, a.finished_at, a.status, a.error, a.output, a.fetched";

export function toAttemptView(row: Row): AttemptView {
  return {
    attempt: Number(row.attempt),
    startedAt: Number(row.started_at),
    finishedAt: Number(row.finished_at),
    status: row.status as AttemptView["status"],
    error: text(row.error),
    output: text(row.output),
    fetched: text(row.fetched),
  };
}

/**
 * The activity chart's buckets from two counts grouped by bucket start (`at`, `n`): events received and attempts
 * that did not end done. Buckets with neither are left out; the page fills the gaps.
 */
export function mergeActivity(events: Iterable<Row>, failures: Iterable<Row>): ActivityBucket[] {
  const buckets = new Map<number, ActivityBucket>();
  const bucket = (at: number) => {
    const b = buckets.get(at) ?? { at, events: 0, failures: 0 };
    buckets.set(at, b);
    return b;
  };
  for (const row of events) bucket(Number(row.at)).events = Number(row.n);
  for (const row of failures) bucket(Number(row.at)).failures = Number(row.n);
  return [...buckets.values()].sort((a, b) => a.at - b.at);
}
