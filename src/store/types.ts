/**
 * @module The Store contract. The hot path only calls `ingest`; the worker claims and finishes deliveries;
 * the CLI inspects and replays. Every implementation passes test/contract/store.ts.
 */
import type { VerifiedEvent } from "../verify.ts";

export type DeliveryStatus = "pending" | "running" | "done" | "failed" | "dead";
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ["pending", "running", "done", "failed", "dead"];

export interface IncomingEvent extends VerifiedEvent {
  /** Unix ms. */
  receivedAt: number;
  endpoint: string;
  /** The exact bytes Stripe signed. */
  body: Uint8Array;
}

/** One action this event needs: its name and the digest of its settings at the time. */
export interface NewDelivery {
  action: string;
  digest: string;
}

export interface ClaimedDelivery {
  id: number;
  eventId: string;
  eventType: string;
  action: string;
  digest: string;
  /** This attempt's number, 1 for the first. */
  attempt: number;
  body: Uint8Array;
}

export interface AttemptRecord {
  deliveryId: number;
  attempt: number;
  startedAt: number;
  finishedAt: number;
  /** What happens to the delivery now. */
  status: Exclude<DeliveryStatus, "running">;
  /** When status is pending: the time of the next attempt, unix ms. */
  nextAt?: number;
  error?: string;
  output?: string;
}

export interface Store {
  /**
   * Stores the event and its deliveries in one durable transaction, shared with concurrent callers.
   * Resolves only once committed; "duplicate" when the event id was already stored (nothing new is written).
   */
  ingest(event: IncomingEvent, deliveries: readonly NewDelivery[]): Promise<"stored" | "duplicate">;
  /** Marks up to `limit` due pending deliveries running, counting the attempt before it runs. */
  claim(now: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt and moves its delivery on. */
  finish(record: AttemptRecord): Promise<void>;
  /** The earliest next_at of pending deliveries, or null. */
  nextDue(): number | null;
  /** Sets deliveries left running by a stopped or killed process back to pending; returns how many. */
  recover(now: number): Promise<number>;
  close(): Promise<void>;
}
