/** @module The store's schema, versioned with PRAGMA user_version; each migration runs once, in order. */
import type { SqlDatabase } from "../../runtime/types.ts";

/** Each step's SQL, in order; exported so a test can build a store as an older payhook left it. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     id TEXT PRIMARY KEY,
     type TEXT NOT NULL,
     object TEXT NOT NULL,
     livemode INTEGER NOT NULL,
     account TEXT,
     api_version TEXT,
     created INTEGER NOT NULL,
     received_at INTEGER NOT NULL,
     endpoint TEXT NOT NULL,
     body BLOB NOT NULL
   );
   CREATE INDEX events_received_at ON events (received_at);
   CREATE TABLE deliveries (
     id INTEGER PRIMARY KEY,
     event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
     action TEXT NOT NULL,
     digest TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     next_at INTEGER,
     last_error TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     UNIQUE (event_id, action)
   );
   CREATE INDEX deliveries_due ON deliveries (status, next_at);
   CREATE TABLE attempts (
     id INTEGER PRIMARY KEY,
     delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
     attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     finished_at INTEGER NOT NULL,
     status TEXT NOT NULL,
     error TEXT,
     output TEXT
   );
   CREATE INDEX attempts_delivery ON attempts (delivery_id);`,
  // The operator page: keyset pages of events, search by object and customer id (filled in for events stored
  // before, from their bytes), and activity charts over attempts by time.
  `ALTER TABLE events ADD COLUMN object_id TEXT;
   ALTER TABLE events ADD COLUMN customer_id TEXT;
   UPDATE events SET
     object_id = ${text("$.related_object.id")}
     WHERE object = 'v2.core.event' AND json_valid(CAST(body AS TEXT));
   UPDATE events SET
     object_id = ${text("$.data.object.id")},
     customer_id = CASE
       WHEN json_extract(CAST(body AS TEXT), '$.data.object.object') = 'customer' THEN ${text("$.data.object.id")}
       WHEN json_type(CAST(body AS TEXT), '$.data.object.customer') = 'object' THEN ${text("$.data.object.customer.id")}
       ELSE ${text("$.data.object.customer")} END
     WHERE object = 'event' AND json_valid(CAST(body AS TEXT));
   CREATE INDEX events_page ON events (received_at, id);
   CREATE INDEX events_object ON events (object_id, received_at);
   CREATE INDEX events_customer ON events (customer_id, received_at);
   CREATE INDEX attempts_finished ON attempts (finished_at, status);`,
  // Catch-up: where an event came from (pushed by Stripe, or fetched from Stripe's Events API); what a thin event's
  // attempt fetched from Stripe; and leases that let one process at a time do a job that several serving the same
  // store could otherwise repeat.
  `ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'pushed';
   ALTER TABLE attempts ADD COLUMN fetched TEXT;
   CREATE TABLE leases (
     name TEXT PRIMARY KEY,
     holder TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // Ordering (`order:` on an action). order_key is NULL for unordered deliveries, so the partial index holds only
  // ordered deliveries still to run: the claim's "is this key busy" probe is one seek, and unordered work never
  // touches it. order_created copies the event's created, so the probe needs no join. An ordered delivery queued
  // behind another of its key waits with next_at NULL, which the due index's range scan never visits, so a key with
  // a long backlog costs each claim one row, not the whole backlog. order_marks keeps the newest event delivered
  // per (action, key), written in the same transaction as the attempt that delivered it.
  `ALTER TABLE deliveries ADD COLUMN order_key TEXT;
   ALTER TABLE deliveries ADD COLUMN order_created INTEGER;
   ALTER TABLE deliveries ADD COLUMN replayed INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX deliveries_order ON deliveries (action, order_key, order_created, id)
     WHERE order_key IS NOT NULL AND status IN ('pending', 'running');
   CREATE TABLE order_marks (
     action TEXT NOT NULL,
     key TEXT NOT NULL,
     created INTEGER NOT NULL,
     event_id TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (action, key)
   ) WITHOUT ROWID;
   CREATE INDEX order_marks_updated_at ON order_marks (updated_at);`,
  // events_page (received_at, id) serves every query events_received_at did: one index less to write per event.
  "DROP INDEX IF EXISTS events_received_at;",
  // Secret rotation: the label of the endpoint secret that verified each event (NULL for fetched events and those
  // stored before). Backfill: when a `payhook backfill` round created a delivery (NULL for every other delivery).
  `ALTER TABLE events ADD COLUMN verified_by TEXT;
   ALTER TABLE deliveries ADD COLUMN backfilled_at INTEGER;`,
  // API-version upgrades: the copies of events posted to a shadow endpoint (the other rendering of the same id),
  // kept apart from the live events and never given a delivery; and each upgrade with its cutover marker.
  `CREATE TABLE event_copies (
     id TEXT NOT NULL,
     endpoint TEXT NOT NULL,
     type TEXT NOT NULL,
     object TEXT NOT NULL,
     api_version TEXT,
     account TEXT,
     created INTEGER NOT NULL,
     received_at INTEGER NOT NULL,
     verified_by TEXT,
     body BLOB NOT NULL,
     PRIMARY KEY (id, endpoint)
   );
   CREATE INDEX event_copies_endpoint ON event_copies (endpoint, received_at);
   CREATE TABLE upgrades (
     shadow_path TEXT PRIMARY KEY,
     live_path TEXT NOT NULL,
     api_version TEXT NOT NULL,
     old_endpoint TEXT,
     new_endpoint TEXT,
     since INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     cut_over_at INTEGER
   );`,
  // Connect: the events of one connected account (events list --account, the page's search) by an index.
  "CREATE INDEX events_account ON events (account, received_at) WHERE account IS NOT NULL;",
  // Operator control: an action's pause and breaker (one row per action with such state, read by every worker
  // before it claims), and the audit trail of operators' acts.
  `CREATE TABLE action_controls (
     action TEXT PRIMARY KEY,
     paused_at INTEGER,
     paused_by TEXT,
     reason TEXT,
     failures INTEGER NOT NULL DEFAULT 0,
     opened_at INTEGER,
     probe_at INTEGER
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     who TEXT NOT NULL,
     act TEXT NOT NULL,
     target TEXT NOT NULL,
     count INTEGER NOT NULL
   );`,
  // Alerts: incidents (at most one open per condition key, which the partial unique index enforces, so an evaluation
  // repeated by another process opens nothing twice) and the notifications each change of one queues per channel,
  // kept until sent like deliveries (see docs/alerting.md).
  `CREATE TABLE incidents (
     id INTEGER PRIMARY KEY,
     key TEXT NOT NULL,
     rule TEXT NOT NULL,
     summary TEXT NOT NULL,
     details TEXT NOT NULL,
     count INTEGER NOT NULL,
     opened_at INTEGER NOT NULL,
     resolved_at INTEGER,
     notified_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX incidents_open ON incidents (key) WHERE resolved_at IS NULL;
   CREATE INDEX incidents_opened ON incidents (opened_at);
   CREATE TABLE notifications (
     id INTEGER PRIMARY KEY,
     incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
     channel TEXT NOT NULL,
     body TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     next_at INTEGER NOT NULL,
     lease_until INTEGER,
     last_error TEXT,
     created_at INTEGER NOT NULL,
     sent_at INTEGER
   );
   CREATE INDEX notifications_pending ON notifications (next_at) WHERE status = 'pending';
   CREATE INDEX notifications_incident ON notifications (incident_id, channel);`,
  // Search by object and customer id through event_search, filled behind the ack in batches (search.ts) instead
  // of two indexes on events whose random keys each dirtied a page per event in every commit. search_progress is
  // the last event rowid indexed. Deleting an event deletes its entries, and keeps search_progress at or below
  // the newest rowid left, since SQLite gives the next event that rowid plus one: it must count as not indexed.
  `CREATE TABLE event_search (
     key TEXT NOT NULL,
     event INTEGER NOT NULL,
     PRIMARY KEY (key, event)
   ) WITHOUT ROWID;
   CREATE TABLE search_progress (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     indexed INTEGER NOT NULL
   );
   INSERT OR IGNORE INTO event_search (key, event)
     SELECT object_id, rowid FROM events WHERE object_id IS NOT NULL
     UNION ALL SELECT customer_id, rowid FROM events WHERE customer_id IS NOT NULL;
   INSERT INTO search_progress (id, indexed) SELECT 1, coalesce(max(rowid), 0) FROM events;
   DROP INDEX events_object;
   DROP INDEX events_customer;
   CREATE TRIGGER events_unsearch AFTER DELETE ON events BEGIN
     DELETE FROM event_search WHERE key IN (old.object_id, old.customer_id) AND event = old.rowid;
     UPDATE search_progress SET indexed = (SELECT coalesce(max(rowid), 0) FROM events)
       WHERE indexed > (SELECT coalesce(max(rowid), 0) FROM events);
   END;`,
  // Deliveries keyed by their event's rowid: the unique (event_id, action) index took a random page per event in
  // every commit; (event, action) grows at its end, as rowids do. event_id stays, for what reads it. SQLite keeps
  // rowids through VACUUM and its backup API (copy a store that way, or with .dump --preserve-rowids). The rowid
  // cannot carry a foreign key, so deleting an event deletes its deliveries by trigger (their attempts cascade).
  `CREATE TABLE deliveries_new (
     id INTEGER PRIMARY KEY,
     event INTEGER NOT NULL,
     event_id TEXT NOT NULL,
     action TEXT NOT NULL,
     digest TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     next_at INTEGER,
     last_error TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     order_key TEXT,
     order_created INTEGER,
     replayed INTEGER NOT NULL DEFAULT 0,
     backfilled_at INTEGER,
     UNIQUE (event, action)
   );
   INSERT INTO deliveries_new (id, event, event_id, action, digest, status, attempts, next_at, last_error, created_at,
       updated_at, order_key, order_created, replayed, backfilled_at)
     SELECT d.id, e.rowid, d.event_id, d.action, d.digest, d.status, d.attempts, d.next_at, d.last_error, d.created_at,
       d.updated_at, d.order_key, d.order_created, d.replayed, d.backfilled_at
     FROM deliveries d JOIN events e ON e.id = d.event_id;
   DROP TABLE deliveries;
   ALTER TABLE deliveries_new RENAME TO deliveries;
   CREATE INDEX deliveries_due ON deliveries (status, next_at);
   CREATE INDEX deliveries_order ON deliveries (action, order_key, order_created, id)
     WHERE order_key IS NOT NULL AND status IN ('pending', 'running');
   CREATE TRIGGER events_undeliver AFTER DELETE ON events BEGIN
     DELETE FROM deliveries WHERE event = old.rowid;
   END;`,
  // The activity chart counts only unsuccessful attempts by time: an index of those alone, so a successful attempt
  // (nearly every one) writes no entry to it.
  `DROP INDEX attempts_finished;
   CREATE INDEX attempts_unsuccessful ON attempts (finished_at) WHERE status <> 'done';`,
];

/** The schema version this payhook writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
/**
 * For commands that only read: throws unless the store is at this payhook's schema. Writes nothing, so a store
 * that a server of the previous version still uses stays as that version needs it.
 */
export function checkSchema(db: SqlDatabase): void {
  const version = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
  if (version === MIGRATIONS.length) return;
  if (version > MIGRATIONS.length) {
    throw new Error(
      `the store was written by a newer payhook (schema ${version}, this one knows ${MIGRATIONS.length}); upgrade payhook`,
    );
  }
  throw new Error(
    `the store is at schema ${version}, and this payhook reads schema ${MIGRATIONS.length}: read it with the payhook that serves it, or let this payhook's serve migrate it first (reading never migrates)`,
  );
}

export function migrate(db: SqlDatabase): void {
  const version = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
  if (version > MIGRATIONS.length) {
    throw new Error(
      `the store was written by a newer payhook (schema ${version}, this one knows ${MIGRATIONS.length}); upgrade payhook`,
    );
  }
  if (version === MIGRATIONS.length) return;
  // The pending steps share one transaction: a new store costs one commit (one fsync of the WAL) rather than one
  // per step, and a step that fails leaves the store as it was, not part way. Foreign keys are off meanwhile (it
  // takes effect outside a transaction only): a step that rebuilds a table drops the old one, and its children
  // would go with it by ON DELETE CASCADE. Every key is checked before the commit instead.
  db.exec("PRAGMA foreign_keys=OFF");
  db.exec("BEGIN IMMEDIATE");
  try {
    for (const step of MIGRATIONS.slice(version)) db.exec(step);
    const broken = db.prepare("PRAGMA foreign_key_check").get();
    if (broken) throw new Error(`a migration broke a foreign key in table ${String(broken.table)}`);
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  } finally {
    db.exec("PRAGMA foreign_keys=ON");
  }
}

/** The string at `path` in an event's body, or NULL when it is missing or not a string (as ingest reads it). */
function text(path: string): string {
  return `CASE WHEN json_type(CAST(body AS TEXT), '${path}') = 'text' THEN json_extract(CAST(body AS TEXT), '${path}') END`;
}
