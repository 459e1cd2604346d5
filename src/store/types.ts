/**
 * @module The Store contract. The hot path only calls `ingest`; the worker claims and finishes deliveries;
 * the CLI inspects and replays. Every implementation passes test/contract/store.ts.
 */
import type { VerifiedEvent } from "./event.ts";

/**
 * `discarded`: an operator threw it away (its action left the config); like done and dead it is final, and unlike
 * them it never runs again, neither by retry nor by replay.
 */
export type DeliveryStatus = "pending" | "running" | "done" | "failed" | "dead" | "discarded";
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = [
  "pending",
  "running",
  "done",
  "failed",
  "dead",
  "discarded",
];

/** How an event reached payhook: Stripe pushed it to an endpoint, or `catch-up` fetched it from Stripe's API. */
export type EventSource = "pushed" | "fetched";

export interface IncomingEvent extends VerifiedEvent {
  /** Unix ms. */
  receivedAt: number;
  /** The endpoint path it was posted to; for a fetched event, the API list it came from (stripe:/v1/events). */
  endpoint: string;
  /** The exact bytes Stripe signed; for a fetched event, the event as the API returned it. */
  body: Uint8Array;
  /** "pushed" when unset. */
  source?: EventSource;
}

/** One action this event needs: its name and the digest of its settings at the time. */
export interface NewDelivery {
  action: string;
  digest: string;
  /**
   * The rendered `order:` key, when the action is ordered and the key is not empty: deliveries of one action with
   * one key are claimed one at a time, in the order of their events' `created` (ties: the order they were stored).
   */
  orderKey?: string;
  /**
   * Store it already claimed by this process (running, its first attempt counted, leased where the store leases
   * claims), for the caller's worker to run once the commit is durable: no claim, no second read of the event.
   * Never for an ordered delivery, which waits for its key's turn.
   */
  claimed?: boolean;
}

/** What ingest did. */
export interface Ingested {
  status: "stored" | "duplicate";
  /** The claims of the deliveries stored claimed, in the order given; none for a duplicate. */
  claims: HeldClaim[];
}

/** The newest event already delivered (done) for an action's order key. */
export interface OrderMark {
  eventId: string;
  /** Unix seconds, from the event. */
  created: number;
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
  /** The delivery's order key, when its action is ordered. */
  orderKey?: string;
  /** For an ordered delivery: the newest event delivered for its key, when that one was created strictly later. */
  newer?: OrderMark;
  /** This round of attempts was started by a replay (`stale: skip` does not apply to it). */
  replayed?: boolean;
  /** The event already parsed, when the worker has it (a delivery claimed at ingest): not parsed again. */
  data?: Record<string, unknown>;
  /**
   * The claim's fencing token, on stores shared by several instances: `finish` and `renew` act only while the
   * delivery is still held under this token, so a result from an instance that lost its lease changes nothing.
   */
  token?: number;
}

export interface AttemptRecord {
  deliveryId: number;
  attempt: number;
  startedAt: number;
  finishedAt: number;
  /** What happens to the delivery now (an attempt never discards it). */
  status: Exclude<DeliveryStatus, "running" | "discarded">;
  /** When status is pending: the time of the next attempt, unix ms. */
  nextAt?: number;
  error?: string;
  output?: string;
  /** For a thin event's action with `fetch:`: what was fetched from Stripe for this attempt, as JSON. */
  fetched?: string;
  /** The claim's token (ClaimedDelivery.token), when the store gave one. */
  token?: number;
}

/** A claim still held by this process, for `renew`. */
export interface HeldClaim {
  id: number;
  token?: number;
}

export interface CopyQuery {
  endpoint: string;
  limit: number;
  unmatched?: boolean;
  pairedWith?: string;
  /** Only copies received at or after this time, unix ms. */
  since?: number;
}

/** Which events `listEvents` returns, newest first. */
export interface EventQuery {
  /** Only events with at least one delivery in this status. */
  status?: DeliveryStatus;
  /** An exact type, a prefix such as "invoice.*", or "*". */
  type?: string;
  /** Only events received at or after this time, unix ms. */
  since?: number;
  /** Only events received before this time, unix ms. */
  until?: number;
  /** Only the event with this id, or the events about this object id or customer id (exact match). */
  search?: string;
  /** Only events that come after this one, newest first: the next page of a keyset-paginated list. */
  after?: EventCursor;
  /** At most this many events; unlimited when unset. */
  limit?: number;
  /** Only events that came this way. */
  source?: EventSource;
  /** Only events of this connected account (Connect's `account`, a thin event's `context`). */
  account?: string;
}

/** A position in the newest-first order of events; pages continue from it however many events arrive meanwhile. */
export interface EventCursor {
  receivedAt: number;
  id: string;
}

/** Failed and dead deliveries that share an action and a last error. */
export interface FailureGroup {
  action: string;
  error: string | null;
  failed: number;
  dead: number;
  /** updated_at of the group's oldest and newest delivery, unix ms. */
  oldestAt: number;
  newestAt: number;
}

/** One failed or dead delivery, to replay it. */
export interface FailedDelivery {
  eventId: string;
  eventType: string;
  action: string;
  status: "failed" | "dead";
}

/** Counts for one time bucket that starts at `at` (unix ms); buckets with nothing in them are left out. */
export interface ActivityBucket {
  at: number;
  /** Events received. */
  events: number;
  /** Attempts that did not succeed (to be retried, failed or dead). */
  failures: number;
}

export interface DeliveryView {
  id: number;
  action: string;
  digest: string;
  status: DeliveryStatus;
  /** Attempts made in the current round (a replay starts a new round). */
  attempts: number;
  nextAt: number | null;
  lastError: string | null;
  /** The rendered order key, or null when the delivery is unordered. */
  orderKey: string | null;
  createdAt: number;
  updatedAt: number;
  /** When the `payhook backfill` round that created it ran (unix ms); null for a delivery created any other way. */
  backfilledAt: number | null;
}

export interface AttemptView {
  attempt: number;
  startedAt: number;
  finishedAt: number;
  status: Exclude<DeliveryStatus, "running">;
  error: string | null;
  output: string | null;
  fetched: string | null;
}

export interface EventView {
  id: string;
  type: string;
  object: string;
  livemode: boolean;
  account: string | null;
  apiVersion: string | null;
  /** Unix seconds, from the event. */
  created: number;
  /** Unix ms. */
  receivedAt: number;
  endpoint: string;
  objectId: string | null;
  customerId: string | null;
  source: EventSource;
  /** The label of the endpoint secret that verified it; null for a fetched event or one stored before labels. */
  verifiedBy: string | null;
  deliveries: DeliveryView[];
}

/** One event in full: its exact bytes, and every attempt of every delivery in the order they ran. */
export interface EventDetail extends EventView {
  body: Uint8Array;
  deliveries: (DeliveryView & { history: AttemptView[] })[];
}

/** A delivery to run again from its first attempt: reset if it exists and is finished, created if not. */
export interface Requeue {
  eventId: string;
  action: string;
  digest: string;
  /** The order key the current config renders for the event, if the action is ordered. */
  orderKey?: string;
}

/** A delivery `payhook backfill` creates for an event its action never ran for. */
export interface Backfill {
  eventId: string;
  action: string;
  digest: string;
  /** The order key the current config renders for the event, if the action is ordered. */
  orderKey?: string;
  /** When it becomes due (unix ms): a round is spread out so that live traffic keeps going first. */
  dueAt: number;
}

/** How many events one endpoint secret verified in a period, and the last one's arrival. */
export interface SecretUse {
  endpoint: string;
  /** The secret's label. */
  secret: string;
  events: number;
  /** received_at of the newest of them, unix ms. */
  lastAt: number;
}

/**
 * The actions an instance can run, for its claims: a delivery is claimed only by an instance that has its action
 * with the settings it was created with, so instances with different configs on one store (a rolling config change)
 * never run each other's deliveries. Unset: every delivery (tests, tools).
 */
export interface Runnable {
  /** Every action this process has loaded, as [name, digest]. */
  versions: readonly (readonly [string, string])[];
  /**
   * The current config's action names. A delivery whose settings no running instance has any more runs the current
   * action of its name; one whose name no instance has stays pending until an instance with it starts.
   */
  names: readonly string[];
}

export interface Store {
  /**
   * Stores the event and its deliveries in one durable transaction, shared with concurrent callers.
   * Resolves only once committed; "duplicate" when the event id was already stored (nothing new is written).
   * Deliveries marked `claimed` are stored running, as a claim would leave them, and their claims returned.
   */
  ingest(event: IncomingEvent, deliveries: readonly NewDelivery[]): Promise<Ingested>;
  /**
   * Marks up to `limit` due pending deliveries running, counting the attempt before it runs, in one atomic step.
   * Deliveries of the actions in `skip` (those at their concurrency limit) are left for later. An ordered delivery
   * (with an order key) is claimed only when no other delivery of its action and key is running, and none created
   * earlier (by the event's `created`, then by arrival) is pending, due or not: dead and failed ones do not block.
   * With `runnable`, only deliveries this instance can run are claimed (see Runnable).
   */
  claim(now: number, limit: number, skip?: readonly string[], runnable?: Runnable): Promise<ClaimedDelivery[]>;
  /**
   * Records an attempt and moves its delivery on; resolves false, changing nothing, when the claim is no longer
   * held (its lease ran out and the delivery was taken over, or it was already finished).
   */
  finish(record: AttemptRecord): Promise<boolean>;
  /**
   * The heartbeat of running deliveries: extends the lease of each claim still held under its token and
   * returns the ids of those; a missing id was lost (another instance took it over after its lease ran out).
   */
  renew(claims: readonly HeldClaim[], now: number): Promise<number[]>;
  /**
   * Calls `listener` whenever another process may have stored or re-queued deliveries, and each time it starts
   * listening (again); returns a function that stops it. A store without such signals never calls it: the
   * worker polls as well.
   */
  subscribe(listener: () => void): () => void;
  /**
   * The earliest time a claim given `runnable` could take a pending delivery (not held by its key), or null;
   * `now` (default: the clock) is when the liveness of other instances' versions is judged (PostgreSQL);
   * deliveries of the actions in `skip` (held by the worker: paused, breaker open, rate) are left out.
   */
  nextDue(runnable?: Runnable, now?: number, skip?: readonly string[]): Promise<number | null>;
  /**
   * Sets deliveries left running by a stopped or killed process back to pending, keeping their attempt count;
   * returns how many. With one server per store that is every running delivery; on a store shared by several
   * instances, those whose lease ran out.
   */
  recover(now: number): Promise<number>;
  /** Puts claimed deliveries that never started back in the queue: pending again, their attempt given back. */
  release(ids: readonly number[], now: number): Promise<number>;
  /** The newest event delivered (done) for an ordered action's key, or null. */
  newestDelivered(action: string, orderKey: string): Promise<OrderMark | null>;
  /** Makes one real durable write, waiting at most `timeoutMs` for the lock; rejects with why it cannot (readiness). */
  checkWritable(timeoutMs: number): Promise<void>;
  /** The queue's depth by status and the age of its oldest entry (metrics). */
  queueStats(): Promise<QueueStats>;
  /** Events matching `query`, newest first, each with its deliveries. Reads only; safe while a server runs. */
  listEvents(query: EventQuery): Promise<EventView[]>;
  /** One event with its body, deliveries and every attempt, or null. */
  getEvent(id: string): Promise<EventDetail | null>;
  /**
   * Queues each delivery for a fresh round of attempts, due at `now`: one that is finished (done, failed, dead;
   * with `only`, just that status) is reset; a missing one is created (not with `only`); pending and running ones
   * are left alone. A queued delivery is marked replayed (an old event runs even under `stale: skip`) and takes the
   * order key given. Returns how many were queued.
   */
  requeue(deliveries: readonly Requeue[], now: number, only?: DeliveryStatus): Promise<number>;
  /**
   * Creates each delivery that does not exist yet (whatever the status of one that does: it ran, or is running),
   * pending and due at its `dueAt`, marked as created by the backfill round at `now`; returns how many it created.
   * Running it again with the same deliveries creates none.
   */
  backfill(deliveries: readonly Backfill[], now: number): Promise<number>;
  /** Events received since `since` (unix ms) per endpoint and verifying secret label; unlabelled ones left out. */
  secretUse(since: number): Promise<SecretUse[]>;
  /** Failed and dead deliveries grouped by action and last error, the largest groups first, at most `limit`. */
  failureGroups(limit: number): Promise<FailureGroup[]>;
  /** Up to `limit` failed and dead deliveries, of one group (action and last error) or of all, oldest first. */
  failedDeliveries(group: { action: string; error: string | null } | null, limit: number): Promise<FailedDelivery[]>;
  /** Events received and failed attempts since `since`, in buckets of `bucketMs` aligned to multiples of it. */
  activity(since: number, bucketMs: number): Promise<ActivityBucket[]>;
  /**
   * Deletes up to `limit` events received before `before` whose deliveries are all finished, with their deliveries
   * and attempts; returns how many events were deleted.
   */
  prune(before: number, limit: number): Promise<number>;
  /**
   * Takes or renews the lease `name` for `holder` until `now + ttlMs`, in one atomic statement: true when `holder`
   * holds it now, false when another holder's lease has not expired. Jobs that one process at a time should do
   * (the background catch-up) run only while their lease is held.
   */
  acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>;
  /** Gives the lease up if `holder` still holds it. */
  releaseLease(name: string, holder: string): Promise<void>;
  /**
   * Keeps a copy of an event apart from the live ones, with no delivery (a shadow endpoint's rendering);
   * "duplicate" when this endpoint's copy of the id is already kept.
   */
  ingestCopy(event: IncomingEvent): Promise<Ingested["status"]>;
  /**
   * Kept copies posted to `endpoint`, newest first, at most `limit`: with `unmatched`, only those whose id has no
   * live event; with `pairedWith`, only those whose live event came to that endpoint, each with that live event.
   */
  copies(query: CopyQuery): Promise<{ copy: EventCopy; live: EventCopy | null }[]>;
  /** Every upgrade recorded, oldest first. */
  upgrades(): Promise<Upgrade[]>;
  /** Records an upgrade, replacing the one with the same shadow path. */
  saveUpgrade(upgrade: Upgrade): Promise<void>;
  /** Every action with operator state: paused, or a breaker that counted failures or is open. */
  controls(): Promise<ActionControl[]>;
  /**
   * Pauses an action (`pause` given) or resumes it (null), which also closes its breaker and forgets its failures;
   * resolves false when nothing changed (already paused; not paused and no breaker open).
   */
  setPaused(action: string, pause: { by: string; reason?: string } | null, now: number): Promise<boolean>;
  /**
   * Counts an attempt's outcome toward the action's breaker, in one statement shared by every instance: a success
   * closes it and clears the count; the `breaker.failures`-th consecutive failure opens it (its first probe due
   * `probeMs` later). Resolves with what changed, and the failures counted so far.
   */
  noteOutcome(action: string, ok: boolean, breaker: BreakerSettings, now: number): Promise<BreakerChange>;
  /**
   * Takes the open breaker's probe turn: true for one caller per interval (across instances), which may then try
   * one delivery of the action; the next turn comes `probeMs` later.
   */
  takeProbe(action: string, now: number, probeMs: number): Promise<boolean>;
  /** Gives a delivery's last attempt back (it was held by an open breaker): it no longer counts toward its cap. */
  refund(deliveryId: number): Promise<void>;
  /**
   * Makes the chosen deliveries due at `now`: pending ones keep their attempt count; failed and dead ones (when
   * chosen) get a fresh round, as a replay gives them. A delivery its order key holds back stays as it is.
   */
  retryNow(selection: RetrySelection, now: number): Promise<RetryResult>;
  /**
   * Marks an action's deliveries in the chosen statuses discarded, in one write: they never run again. Running
   * ones are left to finish (and counted), as are those in other statuses.
   */
  discard(selection: DiscardSelection, now: number): Promise<DiscardResult>;
  /** Per action: deliveries by status (done and discarded left out) and the oldest pending one's creation time. */
  actionStats(): Promise<ActionStats[]>;
  /** Events received since `since` (unix ms), by endpoint. */
  endpointCounts(since: number): Promise<{ endpoint: string; events: number }[]>;
  /** Instances holding leases on running deliveries now (a store shared by several instances), with how many. */
  leaseHolders(now: number): Promise<{ instance: string; running: number }[]>;
  /** Records an operator's act. */
  audit(entry: AuditEntry): Promise<void>;
  /** The newest `limit` recorded acts, newest first. */
  auditTrail(limit: number): Promise<AuditEntry[]>;
  /** What the alert rules read, in one round of cheap aggregates (see AlertFacts). */
  alertFacts(since: AlertWindows): Promise<AlertFacts>;
  /**
   * Applies one evaluation of alert rules in one transaction: each open condition opens an incident (its key not
   * open yet), or updates the open one (count, summary) and re-sends it once `renotifyMs` passed since it was last
   * sent; open incidents whose key starts with one of `scope` and is not among `open` are resolved. Every opening,
   * re-sending and resolving queues one notification per channel, in the same transaction: conditional writes, so
   * however many instances report the same condition, each change is queued once. Returns the notifications queued.
   */
  recordIncidents(report: IncidentReport, now: number): Promise<number>;
  /** Incidents, newest first: open ones, or all; at most `limit`. */
  incidents(query: { open?: boolean; limit: number }): Promise<Incident[]>;
  /**
   * Claims up to `limit` notifications due at `now` for `leaseMs` (another instance may take them once the lease
   * ran out), counting the attempt; per incident and channel, only the oldest unsent one (a resolve never
   * overtakes its opening).
   */
  claimNotifications(now: number, limit: number, leaseMs: number): Promise<Notification[]>;
  /** Records a notification's attempt, only while its claim (`attempt`) still holds; false when it did not. */
  finishNotification(result: NotificationResult, now: number): Promise<boolean>;
  close(): Promise<void>;
}

/** How far back the alert aggregates look, as unix ms lower bounds. */
export interface AlertWindows {
  /** Deliveries that went dead since then. */
  dead: number;
  /** Attempts finished since then make the failure streaks. */
  attempts: number;
  /** Events received since then, by endpoint. */
  events: number;
  /** Events catch-up fetched (never pushed) since then. */
  fetched: number;
}

export interface AlertFacts {
  /** Per action: deliveries that went dead since the window's start. */
  dead: { action: string; dead: number }[];
  /** Per action with a failure since its last success: failed attempts in a row since then (within the window). */
  streaks: { action: string; failures: number }[];
  /** Per endpoint (a path, or the API list catch-up fetched from): events received since the window's start. */
  events: { endpoint: string; events: number }[];
  /** Events catch-up fetched from Stripe's API since `fetched`: Stripe had them, and never got them here. */
  fetched: number;
}

/** A condition an alert rule found. `key` names it: one incident per key at a time. */
export interface Condition {
  key: string;
  rule: string;
  summary: string;
  details: string;
  /** What the rule measured (deliveries dead, failures in a row, minutes of backlog…). */
  count: number;
}

export interface IncidentReport {
  /** Key prefixes the evaluation covered: their open incidents not among `open` are resolved. */
  scope: readonly string[];
  open: readonly Condition[];
  /** The names of the channels each change is sent to. */
  channels: readonly string[];
  renotifyMs: number;
}

export interface Incident {
  id: number;
  key: string;
  rule: string;
  summary: string;
  details: string;
  count: number;
  /** Unix ms. */
  openedAt: number;
  resolvedAt: number | null;
  /** When a notification of it was last queued. */
  notifiedAt: number;
  updatedAt: number;
}

/** What a notification tells a channel: the body a `webhook` channel receives, as JSON. */
export interface NotificationBody {
  id: string;
  rule: string;
  state: "open" | "resolved";
  summary: string;
  details: string;
  /** ISO 8601. */
  opened_at: string;
  count: number;
}

export interface Notification {
  id: number;
  channel: string;
  /** This attempt's number, 1 for the first; also the claim's token. */
  attempt: number;
  body: NotificationBody;
  createdAt: number;
}

export interface NotificationResult {
  id: number;
  attempt: number;
  /** sent; retry at `nextAt`; or dropped (given up). */
  status: "sent" | "retry" | "dropped";
  nextAt?: number;
  error?: string;
}

/** An action's operator state, as stored. */
export interface ActionControl {
  action: string;
  /** When it was paused (unix ms), by whom and why; null when it runs. */
  paused: { at: number; by: string; reason: string | null } | null;
  /** Consecutive failures counted by its breaker. */
  failures: number;
  /** When its breaker opened (unix ms), and when its next probe may start; null when closed. */
  breaker: { openedAt: number; probeAt: number } | null;
}

export interface BreakerSettings {
  /** Consecutive failures that open the breaker. */
  failures: number;
  /** Between two probes of an open breaker, ms. */
  probeMs: number;
}

export interface BreakerChange {
  change: "opened" | "closed" | null;
  failures: number;
  open: boolean;
}

/** Which deliveries `retryNow` moves: of these events, or of this action (or both), in these statuses. */
export interface RetrySelection {
  eventIds?: readonly string[];
  action?: string;
  /** Delivery ids, as the page's per-delivery button sends them. */
  ids?: readonly number[];
  statuses: readonly ("pending" | "failed" | "dead")[];
}

/** What `retryNow` did: how many it made due, and how many it left, by why. */
export interface RetryResult {
  moved: number;
  left: { running: number; done: number; ordered: number; unchosen: number };
}

/** Which deliveries `discard` throws away: this action's, in these statuses. */
export interface DiscardSelection {
  action: string;
  statuses: readonly ("pending" | "failed" | "dead")[];
}

/** What `discard` did: how many it discarded, and how many it left, by why. */
export interface DiscardResult {
  discarded: number;
  left: { running: number; unchosen: number };
}

export interface ActionStats {
  action: string;
  byStatus: Partial<Record<Exclude<DeliveryStatus, "done" | "discarded">, number>>;
  oldestPendingAt: number | null;
}

/** One state-changing act of an operator. */
export interface AuditEntry {
  /** Unix ms. */
  at: number;
  /** The token's name on the page, or the local user on the command line. */
  who: string;
  /** replay, retry, pause, resume, … */
  act: string;
  /** What it acted on: an event id, an action name, a filter. */
  target: string;
  /** How many deliveries it changed. */
  count: number;
}

/** Deliveries not yet done, for metrics. */
export interface QueueStats {
  /** Deliveries by status; done and discarded ones are not counted. */
  byStatus: Partial<Record<Exclude<DeliveryStatus, "done" | "discarded">, number>>;
  /** created_at (unix ms) of the oldest pending or running delivery, or null when there is none. */
  oldestPendingAt: number | null;
}

/**
 * One rendering of an event kept apart from the live events: a copy posted to a shadow endpoint (or, after a
 * cutover, to the old one). It runs no action; the live copy of the same id, if any, is in the events table.
 */
export interface EventCopy {
  id: string;
  type: string;
  object: string;
  endpoint: string;
  apiVersion: string | null;
  account: string | null;
  /** Unix seconds, from the event. */
  created: number;
  /** Unix ms. */
  receivedAt: number;
  verifiedBy: string | null;
  body: Uint8Array;
}

/**
 * An API-version upgrade: the shadow endpoint path that receives the new version's rendering of each event beside
 * the live one. Until `cutOverAt` the live path's copies run actions; from then on the shadow path's do.
 */
export interface Upgrade {
  shadowPath: string;
  livePath: string;
  apiVersion: string;
  /** The webhook endpoints at Stripe (we_…), when known. */
  oldEndpoint: string | null;
  newEndpoint: string | null;
  /** When the shadow endpoint was created at Stripe, unix seconds: only events created since reach it. */
  since: number;
  /** Unix ms. */
  startedAt: number;
  cutOverAt: number | null;
}
