/**
 * @module What payhook keeps of an event: the fields the accept path stores and routes by, read from the event
 * object once it is verified (by the listener, or fetched from Stripe's API by catch-up). Refuses ids and types
 * that could break or forge something where they travel on.
 */
import { VerificationError } from "../errors.ts";

/** What the hot path needs from a verified event. */
export interface VerifiedEvent {
  id: string;
  type: string;
  /** "event" for snapshot events, "v2.core.event" for thin events. */
  object: "event" | "v2.core.event";
  livemode: boolean;
  account: string | null;
  apiVersion: string | null;
  /** Unix seconds. */
  created: number;
  /** The parsed event, for what routing renders from it (an `order:` key); absent when built by hand. */
  payload?: Record<string, unknown>;
  /** The id of the object the event is about (data.object.id; a thin event's related_object.id), for search. */
  objectId?: string | null;
  /** The customer the object belongs to (its `customer`, or its own id when it is a customer), for search. */
  customerId?: string | null;
  /** The label of the endpoint secret that verified it (never the secret); absent when not verified by a secret. */
  verifiedBy?: string;
}

const MAX_ID_LENGTH = 255;
/** Stripe's ids are ASCII letters, digits and "_" (evt_1Nv0FG…); "-", "." and ":" are allowed for other senders' tests. */
const EVENT_ID = /^[A-Za-z0-9_.:-]{1,255}$/;
/** Stripe's types are dotted lower-case words; thin event types also use brackets (v2.core.account[identity].updated). */
const EVENT_TYPE = /^[A-Za-z0-9_.:[\]-]{1,255}$/;

/** The fields payhook keeps of an event object, or a VerificationError saying why it is not one. */
export function describeEvent(event: Record<string, unknown>, object: VerifiedEvent["object"]): VerifiedEvent {
  const { id, type } = event;
  if (event.object !== object) throw notAnEvent();
  // Refused at the door, because they travel on: into headers (Idempotency-Key, Payhook-Event-Type), a program's
  // environment and log lines, where a line break, a NUL or a non-Latin-1 character breaks or forges something.
  if (typeof id !== "string" || !EVENT_ID.test(id)) {
    throw new VerificationError(
      "invalid_event",
      `the event's "id" must be 1 to ${MAX_ID_LENGTH} ASCII letters, digits, "_", "-", "." or ":" (Stripe's look like evt_1Nv0FG…)`,
    );
  }
  if (typeof type !== "string" || !EVENT_TYPE.test(type)) {
    throw new VerificationError(
      "invalid_event",
      `the event's "type" must be 1 to ${MAX_ID_LENGTH} ASCII letters, digits, "_", "-", ".", ":", "[" or "]" (Stripe's look like payment_intent.succeeded)`,
    );
  }
  const context = object === "event" ? event.account : event.context;
  return {
    id,
    type,
    object,
    livemode: event.livemode === true,
    account: storable(object === "event" ? "account" : "context", context),
    apiVersion: storable("api_version", event.api_version),
    created: createdSeconds(event.created),
    payload: event,
    ...subjectIds(event, object),
  };
}

/** The ids an operator searches by, read from the event already parsed for verification. */
function subjectIds(
  event: Record<string, unknown>,
  object: VerifiedEvent["object"],
): { objectId: string | null; customerId: string | null } {
  // Search aids only: an id no store could index (too long, or with a NUL PostgreSQL cannot hold) is not kept.
  const id = (value: unknown) =>
    typeof value === "string" && value.length <= MAX_ID_LENGTH && !value.includes("\u0000") ? value : null;
  if (object === "v2.core.event") {
    const related = isRecord(event.related_object) ? event.related_object : {};
    return { objectId: id(related.id), customerId: null };
  }
  const data = isRecord(event.data) && isRecord(event.data.object) ? event.data.object : {};
  const customer = isRecord(data.customer) ? data.customer.id : data.customer;
  return { objectId: id(data.id), customerId: data.object === "customer" ? id(data.id) : id(customer) };
}

/** The latest `created` a date can show (year 275760), in unix seconds; every store holds it. */
const MAX_CREATED = 8_640_000_000_000;

/**
 * Snapshot events carry unix seconds; thin events an ISO-8601 string. A number beyond the date range is refused:
 * PostgreSQL could not store it (past 64 bits) and no page or listing could show it.
 */
function createdSeconds(created: unknown): number {
  if (typeof created === "number") {
    if (Number.isFinite(created) && Math.abs(created) <= MAX_CREATED) return Math.floor(created);
    throw new VerificationError(
      "invalid_event",
      `the event's "created" must be unix seconds within ±${MAX_CREATED} (Stripe's look like 1760000000)`,
    );
  }
  if (typeof created === "string") {
    const ms = Date.parse(created);
    if (Number.isFinite(ms)) return Math.floor(ms / 1000);
  }
  return 0;
}

/** The error for a correctly signed body that is not a Stripe event. */
/**
 * A string field kept as text: one with a NUL is refused, since PostgreSQL text cannot hold it (and one such event
 * would fail the group commit it shares with others). Any other value is not kept.
 */
function storable(field: string, value: unknown): string | null {
  if (typeof value !== "string") return null;
  if (value.includes("\u0000")) {
    throw new VerificationError("invalid_event", `the event's "${field}" must not contain a NUL character (\\u0000)`);
  }
  return value;
}

export function notAnEvent(): VerificationError {
  return new VerificationError(
    "invalid_event",
    'the body is correctly signed but is not a Stripe event (expected "object": "event" or "v2.core.event")',
  );
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
