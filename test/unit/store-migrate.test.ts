/**
 * SQLite migrations: migration 2 fills in the search ids of events stored before it, from their bytes; pending
 * steps apply together or not at all.
 */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunRuntime } from "../../src/runtime/bun.ts";
import type { SqlDatabase } from "../../src/runtime/types.ts";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import { trackFolder } from "../helpers/cleanup.ts";

/** A store as migration 1 left it: that step alone, at schema version 1. */
function storeAtVersion1(): { path: string; old: SqlDatabase } {
  const dir = mkdtempSync(join(tmpdir(), "payhook-migrate-"));
  trackFolder(dir);
  const path = join(dir, "payhook.db");
  const old = bunRuntime.openDatabase(path);
  old.exec(MIGRATIONS[0] as string);
  old.exec("PRAGMA user_version = 1");
  return { path, old };
}

test("events stored before the search columns existed are found by object and customer id", async () => {
  const { path, old } = storeAtVersion1();
  const insert = old.prepare(
    `INSERT INTO events (id, type, object, livemode, account, api_version, created, received_at, endpoint, body)
     VALUES (?, 'x.y', ?, 0, NULL, NULL, 0, ?, '/webhook', ?)`,
  );
  const rows: [string, string, object][] = [
    ["evt_1", "event", { data: { object: { id: "ch_1", object: "charge", customer: "cus_1" } } }],
    ["evt_2", "event", { data: { object: { id: "in_2", customer: { id: "cus_2" } } } }],
    ["evt_3", "event", { data: { object: { id: "cus_3", object: "customer" } } }],
    ["evt_4", "v2.core.event", { related_object: { id: "mtr_4" } }],
    ["evt_5", "event", { data: { object: { id: 5, customer: ["x"] } } }],
  ];
  rows.forEach(([id, object, body], i) => {
    insert.run(id, object, i, new TextEncoder().encode(JSON.stringify({ id, ...body })));
  });
  old.close();

  const store = openSqliteStore(bunRuntime.openDatabase(path));
  try {
    const found = async (search: string) => (await store.listEvents({ search })).map((e) => e.id);
    expect(await found("ch_1")).toEqual(["evt_1"]);
    expect(await found("cus_1")).toEqual(["evt_1"]);
    expect(await found("cus_2")).toEqual(["evt_2"]);
    expect(await found("cus_3")).toEqual(["evt_3"]);
    expect(await found("mtr_4")).toEqual(["evt_4"]);
    const five = await store.getEvent("evt_5");
    expect([five?.objectId, five?.customerId]).toEqual([null, null]);
  } finally {
    await store.close();
  }
});

test("a step that fails leaves the store as it was: no earlier pending step is kept", async () => {
  const { path, old } = storeAtVersion1();
  old.exec("ALTER TABLE events ADD COLUMN source TEXT"); // migration 3 adds it: that step now fails
  old.close();
  expect(() => openSqliteStore(bunRuntime.openDatabase(path))).toThrow(/duplicate column name: source/);
  const db = bunRuntime.openDatabase(path);
  try {
    expect(db.prepare("PRAGMA user_version").get()).toEqual({ user_version: 1 });
    const columns = db
      .prepare("SELECT name FROM pragma_table_info('events')")
      .all()
      .map((c) => c.name);
    expect(columns).not.toContain("object_id"); // migration 2's column, rolled back with step 3
  } finally {
    db.close();
  }
});

test("deliveries keyed by event id keep their rows and attempts when keyed by the event's rowid", async () => {
  const { path, old } = storeAtVersion1();
  old.exec(`INSERT INTO events (id, type, object, livemode, account, api_version, created, received_at, endpoint, body)
    VALUES ('evt_gone', 'x.y', 'event', 0, NULL, NULL, 0, 1, '/webhook', x'7b7d'),
           ('evt_1', 'x.y', 'event', 0, NULL, NULL, 0, 2, '/webhook', x'7b7d')`);
  old.exec("DELETE FROM events WHERE id = 'evt_gone'"); // evt_1 keeps rowid 2
  old.exec(`INSERT INTO deliveries (id, event_id, action, digest, status, attempts, next_at, created_at, updated_at)
    VALUES (7, 'evt_1', 'ship', 'd', 'failed', 1, NULL, 2, 3)`);
  old.exec(`INSERT INTO attempts (delivery_id, attempt, started_at, finished_at, status, error)
    VALUES (7, 1, 2, 3, 'failed', 'HTTP 500')`);
  old.close();

  const store = openSqliteStore(bunRuntime.openDatabase(path));
  try {
    expect(store.db.prepare("SELECT id, event, event_id FROM deliveries").all()).toEqual([
      { id: 7, event: 2, event_id: "evt_1" },
    ]);
    const detail = await store.getEvent("evt_1");
    expect(detail?.deliveries.map((d) => [d.id, d.status, d.history.map((h) => h.error)])).toEqual([
      [7, "failed", ["HTTP 500"]],
    ]);
    // Deleting the event still deletes its deliveries and their attempts.
    expect(await store.prune(10, 10)).toBe(1);
    expect(store.db.prepare("SELECT count(*) AS n FROM attempts").get()).toEqual({ n: 0 });
    expect(store.db.prepare("SELECT count(*) AS n FROM deliveries").get()).toEqual({ n: 0 });
  } finally {
    await store.close();
  }
});
