/**
 * @module The PostgreSQL store's schema, versioned in <schema>.schema_version. Several instances may start at
 * once: migrations run in one transaction under an advisory lock, so one migrates and the others wait, then
 * find nothing to do. A database migrated by a newer payhook is refused, naming the version that migrated it.
 * Steps are additive so that, during a rolling upgrade, the older instances keep working on the newer schema.
 */
import { StoreError } from "../../errors.ts";
import { escapeControl } from "../../utils/escape.ts";
import { ident, type Sql } from "./client.ts";

/** Each step is SQL on the tables of schema `s` (already quoted). Append new steps; never edit old ones. */
const MIGRATIONS: ((s: string) => string)[] = [
  (s) => `
    CREATE TABLE ${s}.events (
      id text PRIMARY KEY,
      type text NOT NULL,
      object text NOT NULL,
      livemode boolean NOT NULL,
      account text,
      api_version text,
      created bigint NOT NULL,
      received_at bigint NOT NULL,
      endpoint text NOT NULL,
      body bytea NOT NULL
    );
    CREATE INDEX events_received_at ON ${s}.events (received_at);
    CREATE TABLE ${s}.deliveries (
      id bigserial PRIMARY KEY,
      event_id text NOT NULL REFERENCES ${s}.events (id) ON DELETE CASCADE,
      action text NOT NULL,
      digest text NOT NULL,
      status text NOT NULL,
      attempts integer NOT NULL,
      next_at bigint,
      last_error text,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL,
      -- The claim: who holds it, its fencing token, and until when (unix ms) without a heartbeat.
      lease_owner text,
      lease_token bigint,
      lease_until bigint,
      UNIQUE (event_id, action)
    );
    -- Small partial indexes: claims read only due pending rows, the lease rescue only running ones.
    CREATE INDEX deliveries_due ON ${s}.deliveries (next_at, id) WHERE status = 'pending';
    CREATE INDEX deliveries_leased ON ${s}.deliveries (lease_until) WHERE status = 'running';
    CREATE INDEX deliveries_open ON ${s}.deliveries (status, created_at) WHERE status <> 'done';
    -- The queue churns: vacuum it after a few hundred changes rather than a fraction of its size.
    ALTER TABLE ${s}.deliveries SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500);
    CREATE SEQUENCE ${s}.lease_tokens;
    CREATE TABLE ${s}.attempts (
      id bigserial PRIMARY KEY,
      delivery_id bigint NOT NULL REFERENCES ${s}.deliveries (id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      started_at bigint NOT NULL,
      finished_at bigint NOT NULL,
      status text NOT NULL,
      error text,
      output text,
      instance text
    );
    CREATE INDEX attempts_delivery ON ${s}.attempts (delivery_id);
    -- One row that the readiness probe writes.
    CREATE TABLE ${s}.probe (id integer PRIMARY KEY, at bigint NOT NULL);`,
  // The operator page: keyset pages of events, search by object and customer id (filled in for events stored
  // before, from their bytes, as ingest reads them), activity over attempts by time, and failed deliveries oldest
  // first. Catch-up: where an event came from (pushed by Stripe or fetched from its Events API), what a thin
  // event's attempt fetched from Stripe, and leases that let one instance at a time do a job. Every change is
  // additive: older instances keep inserting without the new columns during a rolling upgrade.
  (s) => `
    ALTER TABLE ${s}.events ADD COLUMN object_id text, ADD COLUMN customer_id text,
      ADD COLUMN source text NOT NULL DEFAULT 'pushed';
    ALTER TABLE ${s}.attempts ADD COLUMN fetched text;
    -- Bodies that are not UTF-8 JSON (none should be: ingest parsed them) are left without ids, not an error.
    CREATE FUNCTION pg_temp.payhook_body(body bytea) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
      RETURN convert_from(body, 'UTF8')::jsonb;
    EXCEPTION WHEN others THEN
      RETURN NULL;
    END $$;
    CREATE FUNCTION pg_temp.payhook_text(j jsonb, path text[]) RETURNS text LANGUAGE sql IMMUTABLE AS $$
      SELECT CASE WHEN jsonb_typeof(j #> path) = 'string' THEN j #>> path END
    $$;
    UPDATE ${s}.events e SET
      object_id = CASE WHEN e.object = 'v2.core.event' THEN pg_temp.payhook_text(b.j, '{related_object,id}')
        ELSE pg_temp.payhook_text(b.j, '{data,object,id}') END,
      customer_id = CASE
        WHEN e.object = 'v2.core.event' THEN NULL
        WHEN b.j #>> '{data,object,object}' = 'customer' THEN pg_temp.payhook_text(b.j, '{data,object,id}')
        WHEN jsonb_typeof(b.j #> '{data,object,customer}') = 'object'
          THEN pg_temp.payhook_text(b.j, '{data,object,customer,id}')
        ELSE pg_temp.payhook_text(b.j, '{data,object,customer}') END
    FROM (SELECT id, pg_temp.payhook_body(body) AS j FROM ${s}.events) b
    WHERE b.id = e.id AND b.j IS NOT NULL;
    DROP FUNCTION pg_temp.payhook_text(jsonb, text[]);
    DROP FUNCTION pg_temp.payhook_body(bytea);
    CREATE INDEX events_page ON ${s}.events (received_at, id COLLATE "C");
    CREATE INDEX events_object ON ${s}.events (object_id, received_at) WHERE object_id IS NOT NULL;
    CREATE INDEX events_customer ON ${s}.events (customer_id, received_at) WHERE customer_id IS NOT NULL;
    CREATE INDEX attempts_finished ON ${s}.attempts (finished_at, status);
    CREATE INDEX deliveries_failed ON ${s}.deliveries (updated_at, id) WHERE status IN ('failed', 'dead');
    CREATE TABLE ${s}.leases (
      name text PRIMARY KEY,
      holder text NOT NULL,
      expires_at bigint NOT NULL
    );`,
  // Ordering (`order:` on an action), as on SQLite: order_key is NULL for unordered deliveries; order_created copies
  // the event's created so the claim's "is this key busy" probe is one index seek without a join. The unique index
  // is the guard across instances: whatever two claims race, PostgreSQL refuses a second running delivery for one
  // key. order_marks keeps the newest event delivered per (action, key), written with the attempt that delivered it.
  (s) => `
    ALTER TABLE ${s}.deliveries ADD COLUMN order_key text, ADD COLUMN order_created bigint,
      ADD COLUMN replayed boolean NOT NULL DEFAULT false;
    CREATE INDEX deliveries_order ON ${s}.deliveries (action, order_key, order_created, id)
      WHERE order_key IS NOT NULL AND status IN ('pending', 'running');
    CREATE UNIQUE INDEX deliveries_order_running ON ${s}.deliveries (action, order_key)
      WHERE order_key IS NOT NULL AND status = 'running';
    CREATE TABLE ${s}.order_marks (
      action text NOT NULL,
      key text NOT NULL,
      created bigint NOT NULL,
      event_id text NOT NULL,
      updated_at bigint NOT NULL,
      PRIMARY KEY (action, key)
    );
    CREATE INDEX order_marks_updated_at ON ${s}.order_marks (updated_at);`,
  // events_page (received_at, id) serves every query events_received_at did: one index less to write per event.
  (s) => `DROP INDEX IF EXISTS ${s}.events_received_at;`,
  // Secret rotation: the label of the endpoint secret that verified each event (NULL for fetched events and those
  // stored before). Backfill: when a `payhook backfill` round created a delivery (NULL for every other delivery).
  // Additive: older instances keep inserting without them during a rolling upgrade.
  (s) => `
    ALTER TABLE ${s}.events ADD COLUMN verified_by text;
    ALTER TABLE ${s}.deliveries ADD COLUMN backfilled_at bigint;`,
  // The action versions (name and settings digest) each live instance runs, renewed like a lease: during a rolling
  // config change, a delivery is claimed only by an instance that has its version (runnable.ts).
  (s) => `
    CREATE TABLE ${s}.instance_actions (
      instance text NOT NULL,
      action text NOT NULL,
      digest text NOT NULL,
      until bigint NOT NULL,
      PRIMARY KEY (instance, action, digest)
    );
    CREATE INDEX instance_actions_version ON ${s}.instance_actions (action, digest, until);`,
  // API-version upgrades: the copies of events posted to a shadow endpoint (the other rendering of the same id),
  // kept apart from the live events and never given a delivery; and each upgrade with its cutover marker.
  (s) => `
    CREATE TABLE ${s}.event_copies (
      id text NOT NULL,
      endpoint text NOT NULL,
      type text NOT NULL,
      object text NOT NULL,
      api_version text,
      account text,
      created bigint NOT NULL,
      received_at bigint NOT NULL,
      verified_by text,
      body bytea NOT NULL,
      PRIMARY KEY (id, endpoint)
    );
    CREATE INDEX event_copies_endpoint ON ${s}.event_copies (endpoint, received_at);
    CREATE TABLE ${s}.upgrades (
      shadow_path text PRIMARY KEY,
      live_path text NOT NULL,
      api_version text NOT NULL,
      old_endpoint text,
      new_endpoint text,
      since bigint NOT NULL,
      started_at bigint NOT NULL,
      cut_over_at bigint
    );`,
  // Connect: the events of one connected account (events list --account, the page's search) by an index.
  (s) => `CREATE INDEX events_account ON ${s}.events (account, received_at) WHERE account IS NOT NULL;`,
  // Operator control, as on SQLite: an action's pause and breaker, shared by every instance, and the audit trail.
  (s) => `
    CREATE TABLE ${s}.action_controls (
      action text PRIMARY KEY,
      paused_at bigint,
      paused_by text,
      reason text,
      failures integer NOT NULL DEFAULT 0,
      opened_at bigint,
      probe_at bigint
    );
    CREATE TABLE ${s}.audit (
      id bigserial PRIMARY KEY,
      at bigint NOT NULL,
      who text NOT NULL,
      act text NOT NULL,
      target text NOT NULL,
      count integer NOT NULL
    );`,
  // Alerts, as on SQLite: at most one open incident per condition key (the partial unique index is what makes the
  // instances' evaluations agree: a second INSERT … ON CONFLICT finds the first), and the notifications queue.
  (s) => `
    CREATE TABLE ${s}.incidents (
      id bigserial PRIMARY KEY,
      key text NOT NULL,
      rule text NOT NULL,
      summary text NOT NULL,
      details text NOT NULL,
      count bigint NOT NULL,
      opened_at bigint NOT NULL,
      resolved_at bigint,
      notified_at bigint NOT NULL,
      updated_at bigint NOT NULL
    );
    CREATE UNIQUE INDEX incidents_open ON ${s}.incidents (key) WHERE resolved_at IS NULL;
    CREATE INDEX incidents_opened ON ${s}.incidents (opened_at);
    CREATE TABLE ${s}.notifications (
      id bigserial PRIMARY KEY,
      incident_id bigint NOT NULL REFERENCES ${s}.incidents (id) ON DELETE CASCADE,
      channel text NOT NULL,
      body text NOT NULL,
      status text NOT NULL,
      attempts integer NOT NULL,
      next_at bigint NOT NULL,
      lease_until bigint,
      last_error text,
      created_at bigint NOT NULL,
      sent_at bigint
    );
    CREATE INDEX notifications_pending ON ${s}.notifications (next_at) WHERE status = 'pending';
    CREATE INDEX notifications_incident ON ${s}.notifications (incident_id, channel);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * For commands that only read: throws StoreError unless schema `schema` is at SCHEMA_VERSION, naming the payhook
 * that reads it. Writes nothing: a database still served by the previous version is left as that version needs it.
 */
export async function checkSchema(sql: Sql, schema: string, payhookVersion: string): Promise<void> {
  const s = ident(schema);
  const [table] = await sql.unsafe("SELECT to_regclass($1) AS t", [`${s}.schema_version`]);
  const [latest] = table?.t
    ? await sql.unsafe(`SELECT version, payhook FROM ${s}.schema_version ORDER BY version DESC LIMIT 1`)
    : [];
  const current = latest ? Number(latest.version) : 0;
  if (current === MIGRATIONS.length) return;
  const by = latest ? `, migrated by payhook ${String(latest.payhook)}` : "";
  const use =
    current > MIGRATIONS.length
      ? `run payhook ${String(latest?.payhook)} or newer`
      : `run ${latest ? `payhook ${String(latest.payhook)}` : "the payhook that serves it"} to read it, or upgrade the servers first (the first to start migrates); reading never migrates`;
  throw new StoreError(
    current > MIGRATIONS.length ? "store_too_new" : "store_too_old",
    `the database schema ${schema} is at version ${current}${by}; this payhook ${payhookVersion} reads version ${MIGRATIONS.length}: ${use}`,
  );
}

/** Brings schema `schema` to SCHEMA_VERSION; throws StoreError when the database is newer than this payhook. */
export async function migrate(sql: Sql, schema: string, payhookVersion: string): Promise<void> {
  const s = ident(schema);
  await sql.begin(async (tx) => {
    await tx.unsafe("SET LOCAL lock_timeout = '30s'");
    // One lock per schema: instances starting together migrate one at a time.
    await tx.unsafe("SELECT pg_advisory_xact_lock(hashtext($1))", [`payhook.migrate.${schema}`]);
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.unsafe(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_version (
         version integer PRIMARY KEY,
         payhook text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const [latest] = await tx.unsafe(`SELECT version, payhook FROM ${s}.schema_version ORDER BY version DESC LIMIT 1`);
    const current = latest ? Number(latest.version) : 0;
    if (current > MIGRATIONS.length) {
      // Read from the database, so printed with its control characters made visible.
      const writer = escapeControl(String(latest?.payhook));
      throw new StoreError(
        "store_too_new",
        `the database schema ${schema} is at version ${current}, written by payhook ${writer}; this payhook ${payhookVersion} knows up to version ${MIGRATIONS.length}: run payhook ${writer} or newer`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      await tx.unsafe((MIGRATIONS[v] as (s: string) => string)(s));
      await tx.unsafe(`INSERT INTO ${s}.schema_version (version, payhook) VALUES ($1, $2)`, [v + 1, payhookVersion]);
    }
  });
}
