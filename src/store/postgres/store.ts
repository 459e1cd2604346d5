/**
 * @module The PostgreSQL store, shared by any number of payhook instances. Ingest is group-committed: the
 * events that arrive while earlier batches are in flight go in one statement (one transaction, one commit).
 * Claims take due deliveries with FOR NO KEY UPDATE SKIP LOCKED under a lease owned by this instance and a
 * fencing token; a lease that runs out without a heartbeat makes its delivery pending again for any instance.
 * Times are the instances' clocks (unix ms), as on SQLite: they must agree within a fraction of the lease.
 */
import { PayhookError, StoreUnavailableError } from "../../errors.ts";
import { MAX_BATCH, MAX_FETCHED, MAX_TEXT } from "../shared/limits.ts";
import { orderFree } from "../shared/order.ts";
import type {
  ActionControl,
  ActionStats,
  ActivityBucket,
  AlertFacts,
  AlertWindows,
  AttemptRecord,
  AuditEntry,
  Backfill,
  BreakerChange,
  BreakerSettings,
  ClaimedDelivery,
  CopyQuery,
  DeliveryStatus,
  DiscardResult,
  DiscardSelection,
  EventCopy,
  EventDetail,
  EventQuery,
  EventView,
  FailedDelivery,
  FailureGroup,
  HeldClaim,
  Incident,
  IncidentReport,
  IncomingEvent,
  Ingested,
  NewDelivery,
  Notification,
  NotificationResult,
  OrderMark,
  QueueStats,
  Requeue,
  RetryResult,
  RetrySelection,
  Runnable,
  SecretUse,
  Store,
  Upgrade,
} from "../types.ts";
import * as alerts from "./alerts.ts";
import { backfill, secretUse } from "./backfill.ts";
import { ident, type Row, type Sql } from "./client.ts";
import * as control from "./control.ts";
import { copies, insertCopy, pruneCopies, saveUpgrade, upgrades } from "./copies.ts";
import { activity, failedDeliveries, failureGroups } from "./dashboard.ts";
import { getEvent, listEvents, prune, requeue } from "./inspect.ts";
import { announce, candidate, dueAt, runnableParams, runs, withdraw } from "./runnable.ts";
import { type PostgresConnection, withoutPassword } from "./settings.ts";

/** Deliveries whose lease ran out, made pending again per statement by recover(). */
const RESCUE_BATCH = 1_000;
/** Batches of attempt results written at once. */
const MAX_FINISH_IN_FLIGHT = 2;
/** Wake-ups sent to other instances at most this often: NOTIFY is cheap, but not free at thousands per second. */
const NOTIFY_EVERY_MS = 100;
/** A claim that lost a race for an order key's turn (unique_violation on deliveries_order_running) is tried again. */
const CLAIM_TRIES = 5;

type Ingest = {
  event: IncomingEvent;
  deliveries: readonly NewDelivery[];
  resolve: (result: Ingested) => void;
  reject: (error: unknown) => void;
  /** When it was queued (Date.now()): past commitTimeoutMs it is answered unavailable, and marked expired. */
  at: number;
  expired?: boolean;
};

export interface PostgresStoreOptions {
  sql: Sql;
  schema: string;
  leaseMs: number;
  /** How long an ingest waits for its commit (queued or in flight) before it is refused as unavailable. */
  commitTimeoutMs: number;
  /** Who claims: shown with each claim and attempt (host and process). */
  instance: string;
  connection: PostgresConnection;
  /** Batches of ingests in flight at once; the rest wait and join the next batch. */
  maxInFlight: number;
  /** Opens the connection that listens for other instances' wake-ups; returns a function that closes it. */
  listen?: (channel: string, onWake: () => void) => () => Promise<void>;
  /** Called with how many deliveries a claim took over after their lease ran out. */
  onRescue?: (count: number) => void;
}

export class PostgresStore implements Store {
  readonly sql: Sql;
  private readonly s: string;
  private readonly options: PostgresStoreOptions;
  private readonly channel: string;
  private queue: Ingest[] = [];
  private results: { record: AttemptRecord; resolve: (applied: boolean) => void; reject: (error: unknown) => void }[] =
    [];
  private finishing = 0;
  private scheduled = false;
  /** Batches being committed, with their ingests (for the commit timeout). */
  private inFlight = new Map<Promise<void>, Ingest[]>();
  private sweeper: ReturnType<typeof setInterval>;
  private closed = false;
  private lastNotify = 0;
  private notifyTimer: ReturnType<typeof setTimeout> | undefined;
  private listeners = new Set<() => void>();
  private unlisten: (() => Promise<void>) | undefined;
  /** The versions this instance last announced, and when. */
  private announced: { runnable: Runnable; at: number } | undefined;

  constructor(options: PostgresStoreOptions) {
    this.options = options;
    this.sql = options.sql;
    this.s = ident(options.schema);
    this.channel = `payhook_wake_${options.schema}`;
    this.sweeper = setInterval(() => this.expire(), Math.min(1_000, options.commitTimeoutMs / 2));
    this.sweeper.unref?.();
  }

  ingest(event: IncomingEvent, deliveries: readonly NewDelivery[]): Promise<Ingested> {
    if (this.closed) return Promise.reject(new StoreUnavailableError("the store is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ event, deliveries, resolve, reject, at: Date.now() });
      if (!this.scheduled) {
        this.scheduled = true;
        // As on SQLite: requests verified in this turn of the event loop join the same batch.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Starts a batch for what is queued, as long as fewer than maxInFlight batches are running. */
  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0 && this.inFlight.size < this.options.maxInFlight) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const running: Promise<void> = this.commit(batch).finally(() => {
        this.inFlight.delete(running);
        if (this.queue.length > 0) this.flush();
      });
      this.inFlight.set(running, batch);
    }
  }

  /**
   * A commit that landed after its webhook was refused (expire) stored its deliveries claimed for a worker that
   * gave them up: they go back in the queue at once rather than wait for their lease to run out.
   */
  private releaseExpired(batch: readonly Ingest[], claims: ReadonlyMap<string, HeldClaim>): void {
    const ids = batch
      .filter((item) => item.expired)
      .flatMap((item) => item.deliveries.map((d) => claims.get(`${item.event.id}\n${d.action}`)?.id))
      .filter((id): id is number => id !== undefined);
    if (ids.length > 0) void this.release(ids, Date.now()).catch(() => {}); // else the lease runs out: the same
  }

  /**
   * Refuses, as unavailable, the ingests that have waited longer than commitTimeoutMs, queued or in flight: a
   * database that stops answering (a network partition, a stalled server) must not hold webhooks open until
   * TCP gives up. A commit that lands later is harmless: Stripe's retry of the event is then a duplicate, and
   * the deliveries it stored claimed go back in the queue (releaseExpired).
   */
  private expire(): void {
    const limit = Date.now() - this.options.commitTimeoutMs;
    const late = (item: Ingest) => item.at <= limit;
    if (!this.queue.some(late) && ![...this.inFlight.values()].some((batch) => batch.some(late))) return;
    const failure = new StoreUnavailableError(
      `the database did not commit the event within ${this.options.commitTimeoutMs / 1000}s`,
    );
    for (const item of this.queue.filter(late)) item.reject(failure);
    this.queue = this.queue.filter((item) => !late(item));
    for (const batch of this.inFlight.values())
      for (const item of batch.filter(late)) {
        item.expired = true;
        item.reject(failure);
      }
  }

  /** Stores a batch in one statement: events that are new, and the deliveries of those only. */
  private async commit(batch: Ingest[]): Promise<void> {
    // An id twice in one batch is stored once; the later request is its duplicate.
    const first = new Map<string, Ingest>();
    for (const item of batch) if (!first.has(item.event.id)) first.set(item.event.id, item);
    // Sorted ids: two instances inserting overlapping batches take the rows' locks in the same order, never a deadlock.
    const events = [...first.values()].sort((a, b) => (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0));
    const sql = this.sql;
    let stored: Set<string>;
    /** The claims of deliveries stored claimed, by event id and action. */
    const claims = new Map<string, HeldClaim>();
    try {
      const rows = await this.retryDeadlock(() =>
        sql.unsafe(
          `WITH e AS (
             INSERT INTO ${this.s}.events (id, type, object, livemode, account, api_version, created, received_at, endpoint, body,
               object_id, customer_id, source, verified_by)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::text[], $7::bigint[],
               $8::bigint[], $9::text[], $10::bytea[], $14::text[], $15::text[], $16::text[], $21::text[]) ORDER BY 1
             ON CONFLICT (id) DO NOTHING
             RETURNING id, received_at, created
           ), d AS (
             -- A claimed delivery is stored running under this instance's lease, as a claim would leave it.
             INSERT INTO ${this.s}.deliveries (event_id, action, digest, status, attempts, next_at, created_at, updated_at,
               order_key, order_created, lease_owner, lease_token, lease_until)
             SELECT x.event_id, x.action, x.digest, CASE WHEN x.claimed THEN 'running' ELSE 'pending' END,
               CASE WHEN x.claimed THEN 1 ELSE 0 END, e.received_at, e.received_at, e.received_at,
               x.order_key, e.created, CASE WHEN x.claimed THEN $19 END,
               CASE WHEN x.claimed THEN nextval('${this.s}.lease_tokens') END,
               CASE WHEN x.claimed THEN e.received_at + $20::bigint END
             FROM unnest($11::text[], $12::text[], $13::text[], $17::text[], $18::boolean[])
               WITH ORDINALITY AS x(event_id, action, digest, order_key, claimed, n)
             JOIN e ON e.id = x.event_id ORDER BY x.n
             RETURNING id, event_id, action, lease_token
           )
           SELECT id AS event_id, NULL AS action, NULL::bigint AS delivery_id, NULL::bigint AS token FROM e
           UNION ALL
           SELECT event_id, action, id, lease_token FROM d WHERE lease_token IS NOT NULL`,
          ingestParams(sql, events, this.options) as never[],
          { prepare: true },
        ),
      );
      stored = new Set();
      for (const row of rows as Row[]) {
        if (row.delivery_id === null) stored.add(String(row.event_id));
        else claims.set(`${row.event_id}\n${row.action}`, { id: Number(row.delivery_id), token: Number(row.token) });
      }
    } catch (error) {
      // A value PostgreSQL cannot take (a data exception, class 22) fails only its own event: the batch's events
      // are stored one by one, so the one that cannot be stored does not take its neighbours down with it.
      if (batch.length > 1 && /^22/.test(String((error as { code?: unknown }).code))) {
        await Promise.all(batch.map((item) => this.commit([item])));
        return;
      }
      const failure = this.unavailable(error);
      for (const item of batch) item.reject(failure);
      return;
    }
    this.releaseExpired(batch, claims);
    for (const item of batch) {
      const isFirst = first.get(item.event.id) === item;
      if (!isFirst || !stored.has(item.event.id)) {
        item.resolve({ status: "duplicate", claims: [] });
        continue;
      }
      const held = item.deliveries.map((x) => claims.get(`${item.event.id}\n${x.action}`));
      item.resolve({ status: "stored", claims: held.filter((c) => c !== undefined) });
    }
    if (stored.size > 0) this.notifyPeers();
  }

  async claim(
    now: number,
    limit: number,
    skip: readonly string[] = [],
    runnable?: Runnable,
  ): Promise<ClaimedDelivery[]> {
    if (runnable) await this.announce(runnable, now);
    const p = { first: 6, now: "$1", lease: "$5" };
    // Two small index scans, each FOR NO KEY UPDATE SKIP LOCKED (so concurrent claimers pass each other by):
    // deliveries whose lease ran out (their instance died or was cut off), then due pending ones. A taken-over
    // ordered delivery stays running, so its key stays held; a due ordered one must have its key's turn (orderFree).
    const rows = await this.run((sql) =>
      this.retryOrderRace(() =>
        sql.unsafe(
          `WITH expired AS MATERIALIZED (
           SELECT id FROM ${this.s}.deliveries d
           WHERE status = 'running' AND lease_until <= $1::bigint AND action <> ALL($3::text[]) AND ${runs(this.s, p)}
           ORDER BY lease_until LIMIT $2
           FOR NO KEY UPDATE SKIP LOCKED
         ), due AS MATERIALIZED (
           SELECT id FROM ${this.s}.deliveries d
           WHERE status = 'pending' AND next_at <= $1::bigint AND action <> ALL($3::text[]) AND ${orderFree(`${this.s}.deliveries`)}
             AND ${runs(this.s, p)}
           ORDER BY next_at, id LIMIT $2
           FOR NO KEY UPDATE OF d SKIP LOCKED
         ), c AS (
           SELECT id, true AS taken_over FROM expired UNION ALL SELECT id, false FROM due LIMIT $2
         ), u AS (
           UPDATE ${this.s}.deliveries d
           SET status = 'running', attempts = d.attempts + 1, updated_at = $1::bigint, lease_owner = $4,
             lease_token = nextval('${this.s}.lease_tokens'), lease_until = $1::bigint + $5::bigint
           FROM c, ${this.s}.events e
           WHERE d.id = c.id AND e.id = d.event_id
           RETURNING d.id, d.event_id, e.type, e.body, d.action, d.digest, d.attempts, d.lease_token, c.taken_over,
             d.order_key, d.order_created, d.replayed
         )
         SELECT u.*, m.event_id AS newer_event, m.created AS newer_created
         FROM u LEFT JOIN ${this.s}.order_marks m
           ON m.action = u.action AND m.key = u.order_key AND m.created > u.order_created`,
          [
            now,
            limit,
            sql.array([...skip], 25),
            this.options.instance,
            this.options.leaseMs,
            ...runnableParams(sql, runnable),
          ] as never[],
          { prepare: true },
        ),
      ),
    );
    const takenOver = rows.filter((row: Row) => row.taken_over === true).length;
    if (takenOver > 0) this.options.onRescue?.(takenOver);
    return rows
      .map((row: Row) => {
        const claimed: ClaimedDelivery = {
          id: Number(row.id),
          eventId: String(row.event_id),
          eventType: String(row.type),
          action: String(row.action),
          digest: String(row.digest),
          attempt: Number(row.attempts),
          body: row.body as Uint8Array,
          token: Number(row.lease_token),
        };
        if (row.order_key === null || row.order_key === undefined) return claimed;
        claimed.orderKey = String(row.order_key);
        claimed.replayed = row.replayed === true;
        if (row.newer_event !== null && row.newer_event !== undefined) {
          claimed.newer = { eventId: String(row.newer_event), created: Number(row.newer_created) };
        }
        return claimed;
      })
      .sort((a, b) => a.id - b.id);
  }

  /**
   * Records an attempt, fenced by its claim's token. Results that arrive while earlier ones are being written
   * share one statement (the batch completer of River and graphile-worker): one commit for many deliveries.
   */
  finish(record: AttemptRecord): Promise<boolean> {
    if (this.closed)
      return Promise.reject(new StoreUnavailableError("the store is closed", "the PostgreSQL store is unavailable"));
    return new Promise((resolve, reject) => {
      this.results.push({ record, resolve, reject });
      if (this.finishing < MAX_FINISH_IN_FLIGHT) void this.finishBatch();
    });
  }

  private async finishBatch(): Promise<void> {
    this.finishing += 1;
    try {
      while (this.results.length > 0) {
        const batch = this.results.splice(0, MAX_BATCH);
        const r = batch.map((b) => b.record);
        // A program's output may hold a NUL, which PostgreSQL text cannot: shown as U+FFFD, as the order key's.
        const text = (value: string | undefined) =>
          value === undefined ? null : value.slice(0, MAX_TEXT).replaceAll("\u0000", "\ufffd");
        try {
          const rows = await this.run((sql) =>
            sql.unsafe(
              `WITH r AS (
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::integer[],
                   $7::bigint[], $8::text[], $9::bigint[], $11::text[])
                   AS r(id, status, next_at, error, finished_at, attempt, started_at, output, token, fetched)
               ), u AS (
                 UPDATE ${this.s}.deliveries d
                 SET status = r.status, next_at = r.next_at, last_error = r.error, updated_at = r.finished_at,
                   lease_owner = NULL, lease_until = NULL
                 FROM r WHERE d.id = r.id AND d.status = 'running' AND (r.token IS NULL OR d.lease_token = r.token)
                 RETURNING d.id, d.status, d.action, d.order_key, d.order_created, d.event_id, d.updated_at
               ), m AS (
                 -- The newest event delivered per ordered key; only moves forward (a replayed older one leaves it).
                 INSERT INTO ${this.s}.order_marks (action, key, created, event_id, updated_at)
                 SELECT DISTINCT ON (u.action, u.order_key) u.action, u.order_key, u.order_created, u.event_id, u.updated_at
                 FROM u WHERE u.status = 'done' AND u.order_key IS NOT NULL
                 ORDER BY u.action, u.order_key, u.order_created DESC
                 ON CONFLICT (action, key) DO UPDATE SET created = EXCLUDED.created, event_id = EXCLUDED.event_id,
                   updated_at = EXCLUDED.updated_at WHERE EXCLUDED.created >= ${this.s}.order_marks.created
               )
               INSERT INTO ${this.s}.attempts (delivery_id, attempt, started_at, finished_at, status, error, output, instance,
                 fetched)
               SELECT r.id, r.attempt, r.started_at, r.finished_at, r.status, r.error, r.output, $10, r.fetched
               FROM r JOIN u ON u.id = r.id
               RETURNING delivery_id`,
              [
                sql.array(
                  r.map((x) => x.deliveryId),
                  20,
                ),
                sql.array(
                  r.map((x) => x.status),
                  25,
                ),
                sql.array(
                  r.map((x) => x.nextAt ?? null),
                  20,
                ),
                sql.array(
                  r.map((x) => text(x.error)),
                  25,
                ),
                sql.array(
                  r.map((x) => x.finishedAt),
                  20,
                ),
                sql.array(
                  r.map((x) => x.attempt),
                  23,
                ),
                sql.array(
                  r.map((x) => x.startedAt),
                  20,
                ),
                sql.array(
                  r.map((x) => text(x.output)),
                  25,
                ),
                sql.array(
                  r.map((x) => x.token ?? null),
                  20,
                ),
                this.options.instance,
                sql.array(
                  r.map((x) =>
                    x.fetched === undefined ? null : x.fetched.slice(0, MAX_FETCHED).replaceAll("\u0000", "\ufffd"),
                  ),
                  25,
                ),
              ] as never[],
              { prepare: true },
            ),
          );
          const applied = new Set(rows.map((row: Row) => Number(row.delivery_id)));
          for (const b of batch) b.resolve(applied.has(b.record.deliveryId));
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.finishing -= 1;
    }
  }

  async renew(claims: readonly HeldClaim[], now: number): Promise<number[]> {
    // A worker whose slots are all taken by long actions claims nothing: its announcement is renewed here.
    if (this.announced) await this.announce(this.announced.runnable, now);
    if (claims.length === 0) return [];
    const rows = await this.run((sql) =>
      sql.unsafe(
        `UPDATE ${this.s}.deliveries d SET lease_until = $3::bigint + $4::bigint
         FROM unnest($1::bigint[], $2::bigint[]) AS h(id, token)
         WHERE d.id = h.id AND d.status = 'running' AND (h.token IS NULL OR d.lease_token = h.token)
         RETURNING d.id`,
        [
          sql.array(
            claims.map((c) => c.id),
            20,
          ),
          sql.array(
            claims.map((c) => c.token ?? null),
            20,
          ),
          now,
          this.options.leaseMs,
        ] as never[],
        { prepare: true },
      ),
    );
    return rows.map((r: Row) => Number(r.id)).sort((a, b) => a - b);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.unlisten && this.options.listen && !this.closed) {
      this.unlisten = this.options.listen(this.channel, () => {
        for (const l of this.listeners) l();
      });
    }
    return () => {
      this.listeners.delete(listener);
    };
  }

  async nextDue(runnable?: Runnable, now = Date.now(), skip: readonly string[] = []): Promise<number | null> {
    const p = { first: 3, now: "$1", lease: "$2" };
    const [row] = await this.run((sql) =>
      sql.unsafe(
        `SELECT min(${dueAt(p)}) AS next FROM ${this.s}.deliveries d
         WHERE d.status = 'pending' AND ${orderFree(`${this.s}.deliveries`)} AND ${candidate(this.s, p)} AND d.action <> ALL($7::text[])`,
        [now, this.options.leaseMs, ...runnableParams(this.sql, runnable), sql.array([...skip], 25)] as never[],
        { prepare: true },
      ),
    );
    return row?.next === null || row?.next === undefined ? null : Number(row.next);
  }

  async recover(now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.run((sql) =>
        sql.unsafe(
          `UPDATE ${this.s}.deliveries SET status = 'pending', next_at = $1, updated_at = $1,
             lease_owner = NULL, lease_until = NULL
           WHERE id IN (
             SELECT id FROM ${this.s}.deliveries WHERE status = 'running' AND lease_until <= $1
             ORDER BY lease_until LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED)
           RETURNING id`,
          [now, RESCUE_BATCH] as never[],
          { prepare: true },
        ),
      );
      total += rows.length;
      if (rows.length < RESCUE_BATCH) return total;
    }
  }

  async release(ids: readonly number[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    const rows = await this.run((sql) =>
      sql.unsafe(
        `UPDATE ${this.s}.deliveries SET status = 'pending', attempts = attempts - 1, updated_at = $1,
           lease_owner = NULL, lease_until = NULL
         WHERE status = 'running' AND id = ANY($2::bigint[])
         RETURNING id`,
        [now, sql.array([...ids], 20)] as never[],
        { prepare: true },
      ),
    );
    return rows.length;
  }

  async checkWritable(timeoutMs: number): Promise<void> {
    if (this.closed) throw new StoreUnavailableError("the store is closed");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError(`PostgreSQL did not commit a write within ${timeoutMs} ms`)),
        Math.max(1, timeoutMs),
      );
    });
    try {
      // A real commit: a database that is read-only (a standby after a failover), full or gone fails it.
      await Promise.race([
        this.run((sql) =>
          sql.unsafe(
            `INSERT INTO ${this.s}.probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at`,
            [Date.now()] as never[],
            { prepare: true },
          ),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async queueStats(): Promise<QueueStats> {
    const rows = await this.run((sql) =>
      sql.unsafe(
        `SELECT status, count(*)::bigint AS n, min(created_at) FILTER (WHERE status IN ('pending', 'running')) AS oldest
         FROM ${this.s}.deliveries WHERE status <> 'done' AND status <> 'discarded' GROUP BY status`,
        [],
        { prepare: true },
      ),
    );
    const byStatus: QueueStats["byStatus"] = {};
    let oldest: number | null = null;
    for (const row of rows) {
      byStatus[row.status as keyof QueueStats["byStatus"]] = Number(row.n);
      if (row.oldest !== null && (oldest === null || Number(row.oldest) < oldest)) oldest = Number(row.oldest);
    }
    return { byStatus, oldestPendingAt: oldest };
  }

  // PostgreSQL text cannot hold a NUL, so no stored value has one: a search, cursor or id with one (typed or forged
  // on the operator page) matches nothing, rather than failing as an unavailable store.
  listEvents(query: EventQuery): Promise<EventView[]> {
    if (hasNul(query.search, query.type, query.after?.id)) return Promise.resolve([]);
    return this.run((sql) => listEvents(sql, this.s, query));
  }

  getEvent(id: string): Promise<EventDetail | null> {
    if (hasNul(id)) return Promise.resolve(null);
    return this.run((sql) => getEvent(sql, this.s, id));
  }

  async newestDelivered(action: string, orderKey: string): Promise<OrderMark | null> {
    const [mark] = await this.run((sql) =>
      sql.unsafe(`SELECT event_id, created FROM ${this.s}.order_marks WHERE action = $1 AND key = $2`, [
        action,
        orderKey,
      ] as never[]),
    );
    return mark ? { eventId: String(mark.event_id), created: Number(mark.created) } : null;
  }

  async requeue(deliveries: readonly Requeue[], now: number, only?: DeliveryStatus): Promise<number> {
    const known = deliveries.filter((d) => !hasNul(d.eventId));
    const queued = await this.run((sql) => requeue(sql, this.s, known, now, only));
    if (queued > 0) this.notifyPeers();
    return queued;
  }

  async backfill(deliveries: readonly Backfill[], now: number): Promise<number> {
    const created = await this.run((sql) => backfill(sql, this.s, deliveries, now));
    if (created > 0) this.notifyPeers();
    return created;
  }

  secretUse(since: number): Promise<SecretUse[]> {
    return this.run((sql) => secretUse(sql, this.s, since));
  }

  prune(before: number, limit: number): Promise<number> {
    return this.run(async (sql) => {
      await pruneCopies(sql, this.s, before);
      await alerts.pruneIncidents(sql, this.s, before);
      return prune(sql, this.s, this.options.schema, before, limit);
    });
  }

  async ingestCopy(event: IncomingEvent): Promise<Ingested["status"]> {
    return (await this.run((sql) => insertCopy(sql, this.s, event))) ? "stored" : "duplicate";
  }

  copies(query: CopyQuery): Promise<{ copy: EventCopy; live: EventCopy | null }[]> {
    return this.run((sql) => copies(sql, this.s, query));
  }

  upgrades(): Promise<Upgrade[]> {
    return this.run((sql) => upgrades(sql, this.s));
  }

  saveUpgrade(upgrade: Upgrade): Promise<void> {
    return this.run((sql) => saveUpgrade(sql, this.s, upgrade));
  }

  failureGroups(limit: number): Promise<FailureGroup[]> {
    return this.run((sql) => failureGroups(sql, this.s, limit));
  }

  failedDeliveries(group: { action: string; error: string | null } | null, limit: number): Promise<FailedDelivery[]> {
    if (hasNul(group?.action, group?.error ?? undefined)) return Promise.resolve([]);
    return this.run((sql) => failedDeliveries(sql, this.s, group, limit));
  }

  activity(since: number, bucketMs: number): Promise<ActivityBucket[]> {
    return this.run((sql) => activity(sql, this.s, since, bucketMs));
  }

  alertFacts(since: AlertWindows): Promise<AlertFacts> {
    return this.run((sql) => alerts.alertFacts(sql, this.s, since));
  }

  recordIncidents(report: IncidentReport, now: number): Promise<number> {
    return this.run((sql) => this.retryDeadlock(() => alerts.recordIncidents(sql, this.s, report, now)));
  }

  incidents(query: { open?: boolean; limit: number }): Promise<Incident[]> {
    return this.run((sql) => alerts.incidents(sql, this.s, query));
  }

  claimNotifications(now: number, limit: number, leaseMs: number): Promise<Notification[]> {
    return this.run((sql) => alerts.claimNotifications(sql, this.s, now, limit, leaseMs));
  }

  finishNotification(result: NotificationResult, now: number): Promise<boolean> {
    return this.run((sql) => alerts.finishNotification(sql, this.s, result, now));
  }

  /**
   * One INSERT … ON CONFLICT DO UPDATE … WHERE, as on SQLite: a free, expired or own lease is taken; another
   * holder's live lease is left as it is. Instances racing for the row are serialized on its unique index, and
   * each re-checks the WHERE against the winner's row, so exactly one holds it. Times are the callers' clocks,
   * like every other time in the store.
   */
  async acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    const rows = await this.run((sql) =>
      sql.unsafe(
        `INSERT INTO ${this.s}.leases AS l (name, holder, expires_at) VALUES ($1, $2, $3::bigint + $4::bigint)
         ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
         WHERE l.holder = EXCLUDED.holder OR l.expires_at <= $3::bigint
         RETURNING l.holder`,
        [name, holder, now, ttlMs] as never[],
        { prepare: true },
      ),
    );
    return rows.length > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.run((sql) =>
      sql.unsafe(`DELETE FROM ${this.s}.leases WHERE name = $1 AND holder = $2`, [name, holder] as never[], {
        prepare: true,
      }),
    );
  }

  controls(): Promise<ActionControl[]> {
    return this.run((sql) => control.controls(sql, this.s));
  }

  async setPaused(action: string, pause: { by: string; reason?: string } | null, now: number): Promise<boolean> {
    const changed = await this.run((sql) => control.setPaused(sql, this.s, action, pause, now));
    // A resume releases held deliveries: the other instances look now rather than at their next poll.
    if (changed && !pause) this.notifyPeers();
    return changed;
  }

  noteOutcome(action: string, ok: boolean, breaker: BreakerSettings, now: number): Promise<BreakerChange> {
    return this.run((sql) => control.noteOutcome(sql, this.s, action, ok, breaker, now));
  }

  takeProbe(action: string, now: number, probeMs: number): Promise<boolean> {
    return this.run((sql) => control.takeProbe(sql, this.s, action, now, probeMs));
  }

  refund(deliveryId: number): Promise<void> {
    return this.run((sql) => control.refund(sql, this.s, deliveryId));
  }

  async retryNow(selection: RetrySelection, now: number): Promise<RetryResult> {
    const result = await this.run((sql) => control.retryNow(sql, this.s, selection, now));
    if (result.moved > 0) this.notifyPeers();
    return result;
  }

  discard(selection: DiscardSelection, now: number): Promise<DiscardResult> {
    return this.run((sql) => control.discard(sql, this.s, selection, now));
  }

  actionStats(): Promise<ActionStats[]> {
    return this.run((sql) => control.actionStats(sql, this.s));
  }

  endpointCounts(since: number): Promise<{ endpoint: string; events: number }[]> {
    return this.run((sql) => control.endpointCounts(sql, this.s, since));
  }

  leaseHolders(now: number): Promise<{ instance: string; running: number }[]> {
    return this.run((sql) => control.leaseHolders(sql, this.s, now));
  }

  audit(entry: AuditEntry): Promise<void> {
    return this.run((sql) => control.audit(sql, this.s, entry));
  }

  auditTrail(limit: number): Promise<AuditEntry[]> {
    return this.run((sql) => control.auditTrail(sql, this.s, limit));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Writes already queued are committed, as on SQLite; new ones are refused.
    while (this.queue.length > 0 || this.inFlight.size > 0) {
      this.flush();
      await Promise.allSettled([...this.inFlight.keys()]);
    }
    clearInterval(this.sweeper);
    clearTimeout(this.notifyTimer);
    // Its deliveries in flight are back in the queue or leased; the versions it ran are now for others to run.
    if (this.announced) await withdraw(this.sql, this.s, this.options.instance).catch(() => {});
    await this.unlisten?.();
    await this.sql.end({ timeout: 5 });
  }

  /**
   * Announces the versions this instance runs (runnable.ts) when they changed (a reload) or a third of the lease
   * has passed since the last announcement.
   */
  private async announce(runnable: Runnable, now: number): Promise<void> {
    const last = this.announced;
    if (last?.runnable === runnable && now < last.at + this.options.leaseMs / 3) return;
    await this.run((sql) => announce(sql, this.s, this.options.instance, runnable, now, this.options.leaseMs));
    this.announced = { runnable, at: now };
  }

  /** Tells other instances that deliveries are due: outside the ingest transaction, at most every 100 ms. */
  private notifyPeers(): void {
    if (this.notifyTimer !== undefined) return;
    const wait = Math.max(0, this.lastNotify + NOTIFY_EVERY_MS - Date.now());
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = undefined;
      this.lastNotify = Date.now();
      if (this.closed) return;
      this.sql.unsafe("SELECT pg_notify($1, '')", [this.channel]).catch(() => {
        // Polling finds the deliveries anyway.
      });
    }, wait);
  }

  /** Runs a query, turning driver errors into StoreUnavailableError (503 on the hot path) without the password. */
  private async run<T>(query: (sql: Sql) => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError("the store is closed", "the PostgreSQL store is unavailable");
    try {
      return await query(this.sql);
    } catch (error) {
      throw this.unavailable(error, "the PostgreSQL store is unavailable");
    }
  }

  private unavailable(error: unknown, what?: string): PayhookError {
    if (error instanceof PayhookError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new StoreUnavailableError(withoutPassword(message, this.options.connection), what);
  }

  /**
   * Retries a claim that PostgreSQL refused because another instance took the same order key's turn between this
   * claim's snapshot and its update (unique_violation on deliveries_order_running): the next try sees that claim.
   */
  private async retryOrderRace<T>(statement: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await statement();
      } catch (error) {
        if (tries >= CLAIM_TRIES || (error as { code?: string }).code !== "23505") throw error;
      }
    }
  }

  /** Retries a statement that PostgreSQL aborted to break a deadlock or a serialization conflict. */
  private async retryDeadlock<T>(statement: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await statement();
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (tries >= 3 || (code !== "40P01" && code !== "40001")) throw error;
      }
    }
  }
}

/** True when a value has a NUL, which no PostgreSQL text value can equal. */
function hasNul(...values: (string | undefined)[]): boolean {
  return values.some((v) => v?.includes("\u0000"));
}

/**
 * The parameters of the ingest statement: the batch's events column by column ($1–$10, $14–$16, $21), their
 * deliveries column by column ($11–$13, $17, $18), and this instance's lease ($19, $20) for deliveries stored
 * claimed.
 */
function ingestParams(sql: Sql, events: Ingest[], options: { instance: string; leaseMs: number }): unknown[] {
  const d = {
    event: [] as string[],
    action: [] as string[],
    digest: [] as string[],
    key: [] as (string | null)[],
    claimed: [] as boolean[],
  };
  for (const { event, deliveries } of events) {
    for (const x of deliveries) {
      d.event.push(event.id);
      d.action.push(x.action);
      d.digest.push(x.digest);
      d.key.push(x.orderKey ?? null);
      d.claimed.push(x.claimed === true && x.orderKey === undefined);
    }
  }
  const col = <T>(pick: (e: IncomingEvent) => T) => events.map((i) => pick(i.event));
  return [
    sql.array(
      col((e) => e.id),
      25,
    ),
    sql.array(
      col((e) => e.type),
      25,
    ),
    sql.array(
      col((e) => e.object),
      25,
    ),
    sql.array(
      col((e) => e.livemode),
      16,
    ),
    sql.array(
      col((e) => e.account),
      25,
    ),
    sql.array(
      col((e) => e.apiVersion),
      25,
    ),
    sql.array(
      col((e) => e.created),
      20,
    ),
    sql.array(
      col((e) => e.receivedAt),
      20,
    ),
    sql.array(
      col((e) => e.endpoint),
      25,
    ),
    sql.array(
      col((e) => e.body),
      17,
    ),
    sql.array(d.event, 25),
    sql.array(d.action, 25),
    sql.array(d.digest, 25),
    sql.array(
      col((e) => e.objectId ?? null),
      25,
    ),
    sql.array(
      col((e) => e.customerId ?? null),
      25,
    ),
    sql.array(
      col((e) => e.source ?? "pushed"),
      25,
    ),
    sql.array(d.key, 25),
    sql.array(d.claimed, 16),
    options.instance,
    options.leaseMs,
    sql.array(
      col((e) => e.verifiedBy ?? null),
      25,
    ),
  ];
}
