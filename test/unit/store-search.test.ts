/**
 * The SQLite store's search index, filled behind the ack (src/store/sqlite/search.ts): events are found by object
 * and customer id whether or not their ids are indexed yet, after a restart, and after pruning.
 */
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { SEARCH_DELAY_MS, SearchIndexer } from "../../src/store/sqlite/search.ts";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/store.ts";
import type { IncomingEvent } from "../../src/store/types.ts";
import { trackFolder } from "../helpers/cleanup.ts";

function storePath(): string {
  const dir = mkdtempSync(join(tmpdir(), "payhook-search-"));
  trackFolder(dir);
  return join(dir, "payhook.db");
}

function event(id: string, objectId: string, customerId: string, receivedAt: number): IncomingEvent {
  return {
    id,
    type: "charge.succeeded",
    object: "event",
    livemode: false,
    account: null,
    apiVersion: null,
    created: 1,
    objectId,
    customerId,
    receivedAt,
    endpoint: "/webhook",
    body: new TextEncoder().encode(`{"id":"${id}"}`),
  };
}

const found = async (store: SqliteStore, search: string) => (await store.listEvents({ search })).map((e) => e.id);
const indexed = (store: SqliteStore) =>
  store.db.prepare("SELECT key, event FROM event_search ORDER BY key, event").all() as { key: string }[];
const progress = (store: SqliteStore) => Number(store.db.prepare("SELECT indexed FROM search_progress").get()?.indexed);

test("events are found by object and customer id before their ids are indexed, after a restart, and after", async () => {
  const path = storePath();
  let store = openSqliteStore(bunRuntime.openDatabase(path), path);
  await store.ingest(event("evt_a", "ch_1", "cus_1", 1), []);
  await store.ingest(event("evt_b", "ch_2", "cus_1", 2), []);
  // Acknowledged and durable, not indexed yet: found by their columns.
  expect(indexed(store)).toEqual([]);
  expect(await found(store, "cus_1")).toEqual(["evt_b", "evt_a"]);
  await store.close();

  // A restart (as after a crash) with the tail still unindexed: still found, and indexed after the next commit.
  store = openSqliteStore(bunRuntime.openDatabase(path), path);
  try {
    expect(await found(store, "ch_2")).toEqual(["evt_b"]);
    await store.ingest(event("evt_c", "cus_3", "cus_3", 3), []);
    await Bun.sleep(SEARCH_DELAY_MS + 300);
    expect(indexed(store).map((row) => row.key)).toEqual(["ch_1", "ch_2", "cus_1", "cus_1", "cus_3"]);
    expect(progress(store)).toBe(3);
    expect(await found(store, "cus_1")).toEqual(["evt_b", "evt_a"]);
    expect(await found(store, "cus_3")).toEqual(["evt_c"]);
    expect(await found(store, "evt_a")).toEqual(["evt_a"]);
  } finally {
    await store.close();
  }
});

test("pruning removes an event's entries, and an event stored after it in its rowid is found and indexed", async () => {
  const path = storePath();
  const store = openSqliteStore(bunRuntime.openDatabase(path), path);
  try {
    await store.ingest(event("evt_a", "ch_1", "cus_1", 1), []);
    await store.ingest(event("evt_b", "ch_2", "cus_1", 2), []);
    const indexNow = () => {
      store.db.exec("BEGIN IMMEDIATE");
      new SearchIndexer(store.db).index();
      store.db.exec("COMMIT");
    };
    indexNow();
    expect(progress(store)).toBe(2);
    expect(await store.prune(10, 100)).toBe(2);
    expect(indexed(store)).toEqual([]);
    // SQLite numbers the next event after the newest left (none): it takes rowid 1 again, so it must count as
    // not indexed.
    expect(progress(store)).toBe(0);
    await store.ingest(event("evt_d", "ch_1", "cus_4", 20), []);
    expect(await found(store, "ch_1")).toEqual(["evt_d"]);
    indexNow();
    expect(indexed(store).map((row) => row.key)).toEqual(["ch_1", "cus_4"]);
    expect(await found(store, "ch_1")).toEqual(["evt_d"]);
    expect(await found(store, "cus_1")).toEqual([]);
  } finally {
    await store.close();
  }
});
