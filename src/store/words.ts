/**
 * @module The words people read for a delivery's and an attempt's state, shared by `payhook events`, the operator
 * page and the logs so that they never disagree. The store keeps a delivery waiting for its next attempt as
 * `pending` (what `--status pending` and the JSON output say), but a person is told it is retrying, and an attempt
 * after which it waits is shown as failed, to be retried.
 */
import type { AttemptView, DeliveryStatus } from "./types.ts";

export type DeliveryWord = Exclude<DeliveryStatus, "pending"> | "pending" | "retrying";

/** `retrying` for a pending delivery that has failed at least once in this round; otherwise its status. */
export function deliveryWord(delivery: { status: DeliveryStatus; attempts: number }): DeliveryWord {
  return delivery.status === "pending" && delivery.attempts > 0 ? "retrying" : delivery.status;
}

/** An attempt's outcome: failed, with a retry to come, when its delivery waits for another attempt. */
export function attemptOutcome(status: AttemptView["status"]): {
  state: Exclude<DeliveryStatus, "pending">;
  retry: boolean;
} {
  return status === "pending" ? { state: "failed", retry: true } : { state: status, retry: false };
}

/** The same as text: `failed · retry`, or the attempt's status. */
export function attemptWord(status: AttemptView["status"]): string {
  const { state, retry } = attemptOutcome(status);
  return retry ? `${state} · retry` : state;
}

/** A log line's `next_at`: the time of the next attempt, as the ISO time people read; nothing when none is due. */
export function nextAt(record: { nextAt?: number | null }): { next_at?: string } {
  return record.nextAt ? { next_at: new Date(record.nextAt).toISOString() } : {};
}
