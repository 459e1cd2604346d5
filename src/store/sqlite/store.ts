/**
 * @module The SQLite store: WAL with synchronous=FULL (a commit is fsynced before it returns), one writer
 * connection, and group commit: every write that arrives while a batch is being prepared shares its
 * transaction and its fsync, so throughput does not collapse to one fsync per request.
 */
import { statSync } from "node:fs";
import { PayhookError, StoreError, StoreUnavailableError } from "../../errors.ts";
import type { SqlDatabase, SqlStatement } from "../../runtime/types.ts";
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
import * as control from "./control.ts";
import { copies, insertCopy, pruneCopies, saveUpgrade, upgrades } from "./copies.ts";
import { activity, failedDeliveries, failureGroups } from "./dashboard.ts";
import { getEvent, listEvents, prune, requeue } from "./inspect.ts";
import { checkSchema, migrate } from "./migrations.ts";
import { probeWritable, queueStats } from "./probe.ts";
import { SEARCH_DELAY_MS, SearchIndexer } from "./search.ts";

const DUPLICATE: Ingested = { status: "duplicate", claims: [] };

/**
 * The ordering rule. Dead and failed deliveries are not in the partial index deliveries_order, so they never hold a
 * key. A NULL next_at (held behind its key) only keeps rows that cannot pass the rule out of the claim's scan.
 */
const FREE = orderFree("deliveries");
/**
 * True for a delivery `d` the claim's Runnable (bound three times, as JSON, or NULL for every delivery) can run:
 * its name is in the current config, or this process loaded its very version. One server per store, so a version
 * no other instance can have runs as the current action of its name; a name the config lost stays pending.
 */
const RUNS = `(? IS NULL OR d.action IN (SELECT value FROM json_each(json_extract(?, '$.names')))
  OR EXISTS (SELECT 1 FROM json_each(json_extract(?, '$.versions')) v
    WHERE json_extract(v.value, '$[0]') = d.action AND json_extract(v.value, '$[1]') = d.digest))`;
/** How long a write waits for another process's lock before it fails (503 for a webhook, so Stripe retries). */
export const LOCK_WAIT_MS = 5_000;
/** The longest pause between two tries for a lock another process holds. */
const MAX_RETRY_DELAY_MS = 25;

type Write = {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** When the write first found the store locked; it fails once it has waited LOCK_WAIT_MS. */
  lockedSince?: number;
};

/**
 * Opens (creating if needed) a store on `db`, applying pragmas and migrations and checking durability. `readOnly`
 * (commands that only read) writes nothing: the schema is checked, never migrated.
 */
export function openSqliteStore(db: SqlDatabase, path?: string, readOnly = false): SqliteStore {
  // Taken first: the file as opened (created if needed), to notice later that the path leads elsewhere.
  const identity = path === undefined ? undefined : fileIdentity(path);
  if (readOnly) checkSchema(db);
  else {
    applyDurability(db);
    migrate(db);
  }
  // From here on no statement waits for a lock: SQLite's busy wait would block the event loop (and /healthz with
  // it) for seconds. A busy store is retried on timers instead, see commit().
  db.exec("PRAGMA busy_timeout=0");
  return new SqliteStore(db, identity);
}

/** WAL + synchronous=FULL, read back: payhook refuses to run on a store that would not fsync each commit. */
export function applyDurability(db: SqlDatabase): void {
  // The wait first: switching to WAL takes a lock that another connection opening the same store (the writer
  // thread's, a reader's) may hold for a moment, and without it that is "database is locked" at once.
  db.exec("PRAGMA busy_timeout=5000");
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=FULL");
  db.exec("PRAGMA foreign_keys=ON");
  const journal = String(db.prepare("PRAGMA journal_mode").get()?.journal_mode ?? "").toLowerCase();
  const synchronous = Number(db.prepare("PRAGMA synchronous").get()?.synchronous);
  if (journal !== "wal" || synchronous < 2) {
    throw new StoreError(
      "store_not_durable",
      `the store must use journal_mode=wal and synchronous=FULL, but has ${journal} and ${synchronous}; is it on a file system without WAL support (a network share)?`,
    );
  }
}

export class SqliteStore implements Store {
  readonly db: SqlDatabase;
  private readonly sql: Record<
    | "insertEvent"
    | "insertDelivery"
    | "insertClaimed"
    | "claim"
    | "eventOf"
    | "markOf"
    | "markDelivered"
    | "insertOrdered"
    | "promote"
    | "unholdFree"
    | "insertAttempt"
    | "updateDelivery"
    | "nextDue"
    | "recover"
    | "release"
    | "acquireLease"
    | "releaseLease"
    | "running",
    SqlStatement
  >;
  private queue: Write[] = [];
  /**
   * The ordered deliveries this store has claimed and not yet finished, by id: [action, order key]. Their finish
   * passes the key's turn on; unordered finishes (most of them) then run no extra statement. A delivery claimed
   * by a process that died is passed on by recover() instead.
   */
  private readonly ordered = new Map<number, [string, string]>();
  private scheduled = false;
  private closed = false;
  /** Consecutive tries that found the store locked: the next pause grows with them, up to MAX_RETRY_DELAY_MS. */
  private busyTries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly search: SearchIndexer;
  /** Set while events wait to be indexed: the write that indexes them, SEARCH_DELAY_MS after the first. */
  private searchTimer: ReturnType<typeof setTimeout> | undefined;
  /** The store file as opened; undefined when opened without a path (tests, in-memory). */
  private readonly identity: FileIdentity | undefined;
  /** Why the store can take no more writes, once its file was deleted or replaced; it never comes back. */
  private lost: StoreUnavailableError | undefined;

  constructor(db: SqlDatabase, identity?: FileIdentity) {
    this.db = db;
    this.identity = identity;
    this.search = new SearchIndexer(db);
    this.sql = {
      insertEvent: db.prepare(
        `INSERT INTO events (id, type, object, livemode, account, api_version, created, received_at, endpoint, body,
           object_id, customer_id, source, verified_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      ),
      insertDelivery: db.prepare(
        `INSERT INTO deliveries (event, event_id, action, digest, status, attempts, next_at, created_at, updated_at,
           order_key, order_created)
         VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, NULL, ?)`,
      ),
      // Claimed as it is stored: running, its first attempt counted, as claim() would leave it.
      insertClaimed: db.prepare(
        `INSERT INTO deliveries (event, event_id, action, digest, status, attempts, next_at, created_at, updated_at,
           order_key, order_created)
         VALUES (?, ?, ?, ?, 'running', 1, ?, ?, ?, NULL, ?)`,
      ),
      // Held (next_at NULL) when another delivery of its key is running, or pending and created earlier (or as
      // early: stored first).
      insertOrdered: db.prepare(
        `INSERT INTO deliveries (event, event_id, action, digest, status, attempts, next_at, created_at, updated_at,
           order_key, order_created)
         SELECT ?7, ?1, ?2, ?3, 'pending', 0, CASE WHEN EXISTS (SELECT 1 FROM deliveries b
             WHERE b.action = ?2 AND b.order_key = ?5 AND b.status IN ('pending', 'running')
               AND (b.status = 'running' OR b.order_created <= ?6)) THEN NULL ELSE ?4 END,
           ?4, ?4, ?5, ?6`,
      ),
      // A key's turn passes on when one of its deliveries leaves running: its earliest pending one, if held, is due.
      promote: db.prepare(
        // "The pending one with none earlier" rather than ORDER BY … LIMIT 1, which costs SQLite three times as much
        // here; the index yields the key's rows oldest first, so the first row tried is the one.
        `UPDATE deliveries SET next_at = ? WHERE next_at IS NULL AND id = (SELECT d.id FROM deliveries d
           WHERE d.action = ? AND d.order_key = ? AND d.status IN ('pending', 'running') AND d.status = 'pending'
             AND NOT EXISTS (SELECT 1 FROM deliveries b WHERE b.action = d.action AND b.order_key = d.order_key
               AND b.status IN ('pending', 'running') AND b.status = 'pending'
               AND (b.order_created < d.order_created OR (b.order_created = d.order_created AND b.id < d.id)))
           LIMIT 1)`,
      ),
      unholdFree: db.prepare(
        `UPDATE deliveries SET next_at = ? WHERE id IN (SELECT d.id FROM deliveries d
           WHERE d.status = 'pending' AND d.next_at IS NULL AND d.order_key IS NOT NULL AND ${FREE})`,
      ),
      // One statement: the subquery picks the deliveries (at most one per order key, by FREE's "none earlier
      // pending"), and the UPDATE marks them running, so two claims can never both take one key's turn.
      claim: db.prepare(
        `UPDATE deliveries SET status = 'running', attempts = attempts + 1, updated_at = ?
         WHERE id IN (SELECT d.id FROM deliveries d WHERE d.status = 'pending' AND d.next_at <= ?
           AND d.action NOT IN (SELECT value FROM json_each(?)) AND ${RUNS} AND ${FREE} ORDER BY d.next_at, d.id LIMIT ?)
         RETURNING id, event, event_id, action, digest, attempts, order_key, order_created, replayed`,
      ),
      eventOf: db.prepare("SELECT type, body FROM events WHERE rowid = ?"),
      markOf: db.prepare("SELECT event_id, created FROM order_marks WHERE action = ? AND key = ?"),
      // Only moves forward: an older event delivered later (a replay) leaves the newest one in place.
      markDelivered: db.prepare(
        `INSERT INTO order_marks (action, key, created, event_id, updated_at)
         SELECT action, order_key, order_created, event_id, ? FROM deliveries WHERE id = ? AND order_key IS NOT NULL
         ON CONFLICT (action, key) DO UPDATE SET created = excluded.created, event_id = excluded.event_id,
           updated_at = excluded.updated_at WHERE excluded.created >= order_marks.created`,
      ),
      insertAttempt: db.prepare(
        `INSERT INTO attempts (delivery_id, attempt, started_at, finished_at, status, error, output, fetched)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      updateDelivery: db.prepare(
        "UPDATE deliveries SET status = ?, next_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND status = 'running'",
      ),
      nextDue: db.prepare(
        `SELECT d.next_at AS next FROM deliveries d WHERE d.status = 'pending' AND d.next_at IS NOT NULL AND ${RUNS}
           AND ${FREE} AND d.action NOT IN (SELECT value FROM json_each(?)) ORDER BY d.next_at LIMIT 1`,
      ),
      recover: db.prepare(
        "UPDATE deliveries SET status = 'pending', next_at = ?, updated_at = ? WHERE status = 'running'",
      ),
      release: db.prepare(
        `UPDATE deliveries SET status = 'pending', attempts = attempts - 1, updated_at = ?
         WHERE status = 'running' AND id IN (SELECT value FROM json_each(?))`,
      ),
      // One statement: a free, expired or own lease is taken; another holder's live lease is left as it is.
      acquireLease: db.prepare(
        `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
      ),
      releaseLease: db.prepare("DELETE FROM leases WHERE name = ? AND holder = ?"),
      running: db.prepare(
        "SELECT id FROM deliveries WHERE status = 'running' AND id IN (SELECT value FROM json_each(?)) ORDER BY id",
      ),
    };
  }

  ingest(event: IncomingEvent, deliveries: readonly NewDelivery[]): Promise<Ingested> {
    return this.write(() => {
      const inserted = this.sql.insertEvent.run(
        event.id,
        event.type,
        event.object,
        event.livemode ? 1 : 0,
        event.account,
        event.apiVersion,
        event.created,
        event.receivedAt,
        event.endpoint,
        event.body,
        event.objectId ?? null,
        event.customerId ?? null,
        event.source ?? "pushed",
        event.verifiedBy ?? null,
      );
      if (Number(inserted.changes) === 0) return DUPLICATE;
      this.search.noteStored();
      const claims: HeldClaim[] = [];
      const at = event.receivedAt;
      const row = inserted.lastInsertRowid;
      for (const d of deliveries) {
        if (d.orderKey !== undefined) {
          this.sql.insertOrdered.run(event.id, d.action, d.digest, at, d.orderKey, event.created, row);
        } else if (d.claimed) {
          const claimed = this.sql.insertClaimed.run(row, event.id, d.action, d.digest, at, at, at, event.created);
          claims.push({ id: Number(claimed.lastInsertRowid) });
        } else {
          this.sql.insertDelivery.run(row, event.id, d.action, d.digest, at, at, at, event.created);
        }
      }
      return { status: "stored" as const, claims };
    });
  }

  claim(now: number, limit: number, skip: readonly string[] = [], runnable?: Runnable): Promise<ClaimedDelivery[]> {
    const runs = runsJson(runnable);
    return this.write(() =>
      this.sql.claim.all(now, now, JSON.stringify(skip), runs, runs, runs, limit).map((row) => {
        const event = this.sql.eventOf.get(row.event as number);
        const claimed: ClaimedDelivery = {
          id: Number(row.id),
          eventId: row.event_id as string,
          eventType: String(event?.type ?? ""),
          action: row.action as string,
          digest: row.digest as string,
          attempt: Number(row.attempts),
          body: (event?.body as Uint8Array | undefined) ?? new Uint8Array(),
        };
        if (row.order_key === null || row.order_key === undefined) return claimed;
        claimed.orderKey = String(row.order_key);
        this.ordered.set(claimed.id, [claimed.action, claimed.orderKey]);
        claimed.replayed = Number(row.replayed) === 1;
        const mark = this.sql.markOf.get(claimed.action, claimed.orderKey);
        if (mark && Number(mark.created) > Number(row.order_created)) {
          claimed.newer = { eventId: String(mark.event_id), created: Number(mark.created) };
        }
        return claimed;
      }),
    );
  }

  finish(record: AttemptRecord): Promise<boolean> {
    /** The delivery's order key as this commit saw it. */
    let ordered: [string, string] | undefined;
    const done = this.write(() => {
      const error = record.error === undefined ? null : record.error.slice(0, MAX_TEXT);
      const moved = this.sql.updateDelivery.run(
        record.status,
        record.nextAt ?? null,
        error,
        record.finishedAt,
        record.deliveryId,
      );
      // Only a running delivery is finished: one server per store means its claim cannot have been taken over.
      if (Number(moved.changes) === 0) return false;
      this.sql.insertAttempt.run(
        record.deliveryId,
        record.attempt,
        record.startedAt,
        record.finishedAt,
        record.status,
        error,
        record.output === undefined ? null : record.output.slice(0, MAX_TEXT),
        record.fetched === undefined ? null : record.fetched.slice(0, MAX_FETCHED),
      );
      ordered = this.ordered.get(record.deliveryId);
      if (!ordered) return true;
      if (record.status === "done") this.sql.markDelivered.run(record.finishedAt, record.deliveryId);
      this.sql.promote.run(record.finishedAt, ordered[0], ordered[1]);
      return true;
    });
    // Forgotten only once committed: a finish the store refused is tried again and must pass the turn on then.
    // A side branch, so the caller's await takes no extra turn (it would miss the next group commit).
    done.then(
      () => this.forget(record.deliveryId, ordered),
      () => {},
    );
    return done;
  }

  /**
   * Forgets the order key of a delivery whose finish or release committed, unless the same commit claimed it
   * again (a retry due at once): that claim's entry is a new one, and its own finish must pass the turn on.
   */
  private forget(id: number, entry: [string, string] | undefined): void {
    if (entry && this.ordered.get(id) === entry) this.ordered.delete(id);
  }

  async renew(claims: readonly HeldClaim[]): Promise<number[]> {
    // One server per store: nobody else can take a claim over, so every running one is still held.
    const ids = JSON.stringify(claims.map((c) => c.id));
    return this.sql.running.all(ids).map((row) => Number(row.id));
  }

  subscribe(): () => void {
    // Only this process writes deliveries that need waking for; `payhook events replay` is found by polling.
    return () => {};
  }

  async nextDue(runnable?: Runnable, _now?: number, skip: readonly string[] = []): Promise<number | null> {
    const runs = runsJson(runnable);
    const next = this.sql.nextDue.get(runs, runs, runs, JSON.stringify(skip))?.next;
    return next === null || next === undefined ? null : Number(next);
  }

  async newestDelivered(action: string, orderKey: string): Promise<OrderMark | null> {
    const mark = this.sql.markOf.get(action, orderKey);
    return mark ? { eventId: String(mark.event_id), created: Number(mark.created) } : null;
  }

  recover(now: number): Promise<number> {
    return this.write(() => {
      const recovered = Number(this.sql.recover.run(now, now).changes);
      this.ordered.clear();
      // Every key whose turn is free but whose first delivery is still held (a hand-over that never happened, or
      // the keys of the deliveries just recovered) is handed over: a restart always leaves every key moving.
      this.sql.unholdFree.run(now);
      return recovered;
    });
  }

  release(ids: readonly number[], now: number): Promise<number> {
    const entries = new Map<number, [string, string]>();
    const done = this.write(() => {
      const released = Number(this.sql.release.run(now, JSON.stringify(ids)).changes);
      for (const id of ids) {
        const ordered = this.ordered.get(id);
        if (!ordered) continue;
        entries.set(id, ordered);
        this.sql.promote.run(now, ordered[0], ordered[1]);
      }
      return released;
    });
    done.then(
      () => {
        for (const [id, entry] of entries) this.forget(id, entry);
      },
      () => {},
    );
    return done;
  }

  async checkWritable(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let tries = 0; ; tries++) {
      if (this.closed) throw new StoreUnavailableError("the store is closed");
      this.checkIdentity();
      try {
        probeWritable(this.db);
        return;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
      }
      await pause(retryDelay(tries));
    }
  }

  async queueStats(): Promise<QueueStats> {
    return queueStats(this.db);
  }

  async listEvents(query: EventQuery): Promise<EventView[]> {
    return listEvents(this.db, query);
  }

  async getEvent(id: string): Promise<EventDetail | null> {
    return getEvent(this.db, id);
  }

  async failureGroups(limit: number): Promise<FailureGroup[]> {
    return failureGroups(this.db, limit);
  }

  async failedDeliveries(
    group: { action: string; error: string | null } | null,
    limit: number,
  ): Promise<FailedDelivery[]> {
    return failedDeliveries(this.db, group, limit);
  }

  async activity(since: number, bucketMs: number): Promise<ActivityBucket[]> {
    return activity(this.db, since, bucketMs);
  }

  requeue(deliveries: readonly Requeue[], now: number, only?: DeliveryStatus): Promise<number> {
    return this.write(() => requeue(this.db, deliveries, now, only));
  }

  backfill(deliveries: readonly Backfill[], now: number): Promise<number> {
    return this.write(() => backfill(this.db, deliveries, now));
  }

  async secretUse(since: number): Promise<SecretUse[]> {
    return secretUse(this.db, since);
  }

  prune(before: number, limit: number): Promise<number> {
    return this.write(() => {
      pruneCopies(this.db, before);
      alerts.pruneIncidents(this.db, before);
      return prune(this.db, before, limit);
    });
  }

  ingestCopy(event: IncomingEvent): Promise<Ingested["status"]> {
    return this.write(() => (insertCopy(this.db, event) ? "stored" : "duplicate"));
  }

  async copies(query: CopyQuery): Promise<{ copy: EventCopy; live: EventCopy | null }[]> {
    return copies(this.db, query);
  }

  async upgrades(): Promise<Upgrade[]> {
    return upgrades(this.db);
  }

  saveUpgrade(upgrade: Upgrade): Promise<void> {
    return this.write(() => saveUpgrade(this.db, upgrade));
  }

  async alertFacts(since: AlertWindows): Promise<AlertFacts> {
    return alerts.alertFacts(this.db, since);
  }

  recordIncidents(report: IncidentReport, now: number): Promise<number> {
    return this.write(() => alerts.recordIncidents(this.db, report, now));
  }

  async incidents(query: { open?: boolean; limit: number }): Promise<Incident[]> {
    return alerts.incidents(this.db, query);
  }

  claimNotifications(now: number, limit: number, leaseMs: number): Promise<Notification[]> {
    return this.write(() => alerts.claimNotifications(this.db, now, limit, leaseMs));
  }

  finishNotification(result: NotificationResult, now: number): Promise<boolean> {
    return this.write(() => alerts.finishNotification(this.db, result, now));
  }

  acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return this.write(() => Number(this.sql.acquireLease.run(name, holder, now + ttlMs, now).changes) > 0);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return this.write(() => {
      this.sql.releaseLease.run(name, holder);
    });
  }

  async controls(): Promise<ActionControl[]> {
    return control.controls(this.db);
  }

  setPaused(action: string, pause: { by: string; reason?: string } | null, now: number): Promise<boolean> {
    return this.write(() => control.setPaused(this.db, action, pause, now));
  }

  noteOutcome(action: string, ok: boolean, breaker: BreakerSettings, now: number): Promise<BreakerChange> {
    return this.write(() => control.noteOutcome(this.db, action, ok, breaker, now));
  }

  takeProbe(action: string, now: number, probeMs: number): Promise<boolean> {
    return this.write(() => control.takeProbe(this.db, action, now, probeMs));
  }

  refund(deliveryId: number): Promise<void> {
    return this.write(() => control.refund(this.db, deliveryId));
  }

  retryNow(selection: RetrySelection, now: number): Promise<RetryResult> {
    return this.write(() => control.retryNow(this.db, selection, now));
  }

  discard(selection: DiscardSelection, now: number): Promise<DiscardResult> {
    return this.write(() => control.discard(this.db, selection, now));
  }

  async actionStats(): Promise<ActionStats[]> {
    return control.actionStats(this.db);
  }

  async endpointCounts(since: number): Promise<{ endpoint: string; events: number }[]> {
    return control.endpointCounts(this.db, since);
  }

  async leaseHolders(): Promise<{ instance: string; running: number }[]> {
    // One server per store: no leases.
    return [];
  }

  audit(entry: AuditEntry): Promise<void> {
    return this.write(() => control.audit(this.db, entry));
  }

  async auditTrail(limit: number): Promise<AuditEntry[]> {
    return control.auditTrail(this.db, limit);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearTimeout(this.retryTimer);
    // A last commit without waiting: writes the lock still holds back fail now (a webhook gets 503, Stripe retries).
    this.commit(0);
    clearTimeout(this.retryTimer);
    // After that commit, which arms it when events wait: the next start indexes them.
    clearTimeout(this.searchTimer);
    this.closed = true;
    for (const write of this.queue.splice(0)) write.reject(new StoreUnavailableError("the store is closed"));
    this.db.close();
  }

  /** Queues `run` for the next group commit; resolves with its result once the commit is durable. */
  private write<T>(run: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError("the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: requests whose verification finishes in this turn join the batch, and
        // the ones that arrive while its fsync blocks form the next. Not setTimeout(0), which waits ≥ 1 ms per
        // batch for nothing (make bench: +12 % throughput at 32 connections).
        setImmediate(() => this.commit());
      }
    });
  }

  /**
   * Throws once the store's path no longer leads to the file payhook has open (deleted, or replaced by another
   * file): SQLite would go on committing into the unlinked file, and everything acknowledged would vanish at the
   * next stop. One stat per group commit, not per write.
   */
  private checkIdentity(): void {
    if (this.lost) throw this.lost;
    if (!this.identity) return;
    const { path, dev, ino } = this.identity;
    let now: FileIdentity | undefined;
    try {
      now = fileIdentity(path);
    } catch {
      // Gone: now stays undefined.
    }
    if (now && now.dev === dev && now.ino === ino) return;
    this.lost = new StoreUnavailableError(
      `the store file ${path} was ${now ? "replaced by another file" : "deleted"} while payhook was running; nothing more can be stored safely, so every webhook gets 503 (Stripe keeps retrying them). Restore the file or restart payhook`,
    );
    throw this.lost;
  }

  /**
   * The store is locked by another process: fails the writes that have waited long enough, and schedules the next
   * try for the rest. Returns true when a try is scheduled (commit() must stop), false when every write failed.
   */
  private waitForLock(lockWaitMs: number, error: unknown): boolean {
    const now = Date.now();
    const failure = new StoreUnavailableError(error);
    this.queue = this.queue.filter((write) => {
      write.lockedSince ??= now;
      if (now - write.lockedSince < lockWaitMs) return true;
      write.reject(failure);
      return false;
    });
    if (this.queue.length === 0) return false;
    this.scheduled = true;
    this.retryTimer = setTimeout(() => this.commit(), retryDelay(this.busyTries++));
    return true;
  }

  /**
   * Commits everything queued, in transactions of at most MAX_BATCH writes. When another process holds the write
   * lock, the writes stay queued and commit() runs again after a short pause (the event loop stays free); writes
   * that have waited `lockWaitMs` fail.
   */
  private commit(lockWaitMs = LOCK_WAIT_MS): void {
    this.scheduled = false;
    this.retryTimer = undefined;
    while (this.queue.length > 0 && !this.closed) {
      try {
        this.checkIdentity();
        this.db.exec("BEGIN IMMEDIATE");
      } catch (error) {
        if (isBusy(error) && this.waitForLock(lockWaitMs, error)) return;
        if (!isBusy(error)) {
          const failure = error instanceof PayhookError ? error : new StoreUnavailableError(error);
          for (const write of this.queue.splice(0, MAX_BATCH)) write.reject(failure);
        }
        continue;
      }
      this.busyTries = 0;
      const batch = this.queue.splice(0, MAX_BATCH);
      const results: unknown[] = [];
      try {
        try {
          for (const write of batch) results.push(write.run());
          // A full tail is indexed in this commit: its entries share the fsync the batch waits for anyway.
          if (this.search.full) this.search.index();
          this.db.exec("COMMIT");
        } catch (error) {
          rollback(this.db);
          throw error;
        }
        for (const [i, write] of batch.entries()) write.resolve(results[i]);
      } catch (error) {
        const failure = error instanceof PayhookError ? error : new StoreUnavailableError(error);
        for (const write of batch) write.reject(failure);
      }
    }
    this.indexLater();
  }

  /** Events wait to be indexed: a write indexes them SEARCH_DELAY_MS from now, unless a full tail does it first. */
  private indexLater(): void {
    if (this.searchTimer || this.closed || !this.search.waiting) return;
    this.searchTimer = setTimeout(() => {
      this.searchTimer = undefined;
      if (this.search.waiting) this.write(() => this.search.index()).catch(() => {});
    }, SEARCH_DELAY_MS);
  }
}

interface FileIdentity {
  path: string;
  dev: number;
  ino: number;
}

function fileIdentity(path: string): FileIdentity {
  const { dev, ino } = statSync(path);
  return { path, dev, ino };
}

/** SQLITE_BUSY: another connection holds the lock (bun:sqlite gives the code, node:sqlite only the message). */
function isBusy(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === "SQLITE_BUSY" || /database is locked|SQLITE_BUSY/i.test(String(message ?? ""));
}

/** The Runnable as RUNS binds it. */
function runsJson(runnable: Runnable | undefined): string | null {
  return runnable === undefined ? null : JSON.stringify(runnable);
}

function retryDelay(tries: number): number {
  return Math.min(2 ** tries, MAX_RETRY_DELAY_MS);
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rolls back if a transaction is still open; SQLite may already have rolled back a failed COMMIT. */
function rollback(db: SqlDatabase): void {
  try {
    db.exec("ROLLBACK");
  } catch {
    // no transaction was active
  }
}
