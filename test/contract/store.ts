/**
 * @module The Store contract suite: every Store implementation must pass it. It is written with node:test
 * and node:assert, which both `bun test` and `deno test` run, so one suite covers the SQLite store on
 * bun:sqlite (store.bun.test.ts) and on node:sqlite (store.deno.test.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, test } from "node:test";
import { StoreError, StoreUnavailableError } from "../../src/errors.ts";
import type { SqlDatabase, SqlValue } from "../../src/runtime/types.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { IncomingEvent, NewDelivery, Store } from "../../src/store/types.ts";

/** A store under test, with the means to look behind it and to make its storage fail. */
export interface StoreSubject {
  store: Store;
  /** Runs a read-only query against the store's storage. */
  query(sql: string): Record<string, SqlValue>[];
  /** How many transactions have been committed so far. */
  commits(): number;
  /** While on, every commit fails as a full or failing disk would make it fail. */
  failCommits(on: boolean): void;
  /** Releases the storage (after the store is closed). */
  dispose(): void;
}

/** Opens subjects for the tests of one describe block; each is closed and disposed after its test. */
export function subjects(open: () => StoreSubject): () => StoreSubject {
  const opened: StoreSubject[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) {
      await s.store.close();
      s.dispose();
    }
  });
  return () => {
    const s = open();
    opened.push(s);
    return s;
  };
}

/** Defines the contract's cases for the store that `open` makes, a fresh one per call. */
export function storeContract(name: string, open: () => StoreSubject): void {
  describe(`Store contract: ${name}`, () => {
    const subject = subjects(open);

    test("ingest stores an event once and reports a duplicate without writing anything", async () => {
      const s = subject();
      const body = bytes('{"id":"evt_1","note":"caf\u00e9 \u2603"}');
      assert.equal(await s.store.ingest(incoming("evt_1", { body }), deliveries("a", "b")), "stored");
      assert.equal(await s.store.ingest(incoming("evt_1", { type: "other.type" }), deliveries("c")), "duplicate");
      assert.deepEqual(plain(s.query("SELECT id, type FROM events")), [{ id: "evt_1", type: "invoice.paid" }]);
      assert.deepEqual(plain(s.query("SELECT action, status, attempts FROM deliveries ORDER BY action")), [
        { action: "a", status: "pending", attempts: 0 },
        { action: "b", status: "pending", attempts: 0 },
      ]);
      // The exact bytes come back: Stripe signed them, and actions see them.
      const claimed = await s.store.claim(NOW, 10);
      assert.deepEqual(
        claimed.map((d) => Array.from(d.body)),
        [Array.from(body), Array.from(body)],
      );
    });

    test("an event is stored with its deliveries in one transaction: if one delivery fails, nothing is stored", async () => {
      const s = subject();
      // Two deliveries with the same action name break UNIQUE (event_id, action) after the event row is written.
      const result = s.store.ingest(incoming("evt_1"), deliveries("a", "a"));
      await assert.rejects(result, StoreUnavailableError);
      assert.equal(count(s, "events"), 0);
      assert.equal(count(s, "deliveries"), 0);
      assert.equal(await s.store.ingest(incoming("evt_1"), deliveries("a")), "stored");
      assert.equal(count(s, "deliveries"), 1);
    });

    test("concurrent ingests share one commit and every one of them resolves", async () => {
      const s = subject();
      const before = s.commits();
      const ids = Array.from({ length: 100 }, (_, i) => `evt_${i}`);
      const results = await Promise.all([
        ...ids.map((id) => s.store.ingest(incoming(id), deliveries("a"))),
        s.store.ingest(incoming("evt_0"), deliveries("a")),
      ]);
      assert.deepEqual(results, [...ids.map(() => "stored"), "duplicate"]);
      assert.equal(s.commits() - before, 1);
      assert.equal(count(s, "events"), 100);
      assert.equal(count(s, "deliveries"), 100);
    });

    test("claim takes only due pending deliveries, up to the limit, and counts the attempt before it runs", async () => {
      const s = subject();
      await s.store.ingest(incoming("evt_1"), deliveries("a", "b", "c"));
      assert.deepEqual(await s.store.claim(NOW - 1, 10), [], "not due yet");
      const first = await s.store.claim(NOW, 2);
      assert.equal(first.length, 2);
      for (const d of first) {
        assert.equal(d.attempt, 1);
        assert.equal(d.eventId, "evt_1");
        assert.equal(d.eventType, "invoice.paid");
        assert.equal(d.digest, `digest-${d.action}`);
      }
      // Claimed means running with the attempt already counted, so a crash mid-action still uses it up.
      assert.deepEqual(plain(s.query("SELECT status, attempts FROM deliveries WHERE status = 'running'")), [
        { status: "running", attempts: 1 },
        { status: "running", attempts: 1 },
      ]);
      const rest = await s.store.claim(NOW, 10);
      assert.deepEqual(
        rest.map((d) => d.action),
        ["a", "b", "c"].filter((a) => !first.some((d) => d.action === a)),
      );
      assert.deepEqual(await s.store.claim(NOW + 60_000, 10), [], "running deliveries are not claimed again");
    });

    test("release puts claimed deliveries back, pending with their attempt given back, and leaves others alone", async () => {
      const s = subject();
      await s.store.ingest(incoming("evt_1"), deliveries("a", "b", "c"));
      const claimed = await s.store.claim(NOW, 10);
      const [kept, ...given] = claimed;
      assert.ok(kept);
      assert.equal(await s.store.release([...given.map((d) => d.id), 999], NOW + 5), 2);
      assert.deepEqual(plain(s.query("SELECT status, attempts FROM deliveries ORDER BY status")), [
        { status: "pending", attempts: 0 },
        { status: "pending", attempts: 0 },
        { status: "running", attempts: 1 },
      ]);
      const again = await s.store.claim(NOW + 5, 10);
      assert.deepEqual(
        again.map((d) => [d.id, d.attempt]),
        given.map((d) => [d.id, 1]),
      );
    });

    test("finish records the attempt and moves the delivery to its new status", async () => {
      const s = subject();
      await s.store.ingest(incoming("evt_1"), deliveries("done", "retry", "failed", "dead"));
      const claimed = new Map((await s.store.claim(NOW, 10)).map((d) => [d.action, d]));
      const finish = (action: string, status: "done" | "pending" | "failed" | "dead", extra = {}) => {
        const d = claimed.get(action);
        assert.ok(d);
        return s.store.finish({
          deliveryId: d.id,
          attempt: d.attempt,
          startedAt: NOW + 1,
          finishedAt: NOW + 2,
          status,
          ...extra,
        });
      };
      await Promise.all([
        finish("done", "done", { output: "ok" }),
        finish("retry", "pending", { nextAt: NOW + 5_000, error: "HTTP 502" }),
        finish("failed", "failed", { error: "HTTP 400" }),
        finish("dead", "dead", { error: "x".repeat(200_000) }),
      ]);
      assert.deepEqual(
        plain(s.query("SELECT action, status, attempts, next_at, last_error FROM deliveries ORDER BY action")).map(
          (r) => ({ ...r, last_error: typeof r.last_error === "string" ? r.last_error.slice(0, 8) : r.last_error }),
        ),
        [
          { action: "dead", status: "dead", attempts: 1, next_at: null, last_error: "xxxxxxxx" },
          { action: "done", status: "done", attempts: 1, next_at: null, last_error: null },
          { action: "failed", status: "failed", attempts: 1, next_at: null, last_error: "HTTP 400" },
          { action: "retry", status: "pending", attempts: 1, next_at: NOW + 5_000, last_error: "HTTP 502" },
        ],
      );
      const attempts = plain(
        s.query(
          `SELECT d.action, a.attempt, a.started_at, a.finished_at, a.status, a.error, a.output
           FROM attempts a JOIN deliveries d ON d.id = a.delivery_id ORDER BY d.action`,
        ),
      );
      assert.equal(attempts.length, 4);
      assert.deepEqual(attempts[1], {
        action: "done",
        attempt: 1,
        started_at: NOW + 1,
        finished_at: NOW + 2,
        status: "done",
        error: null,
        output: "ok",
      });
      // A huge error text is kept, but bounded: one failing action cannot grow the store without limit.
      const long = String(attempts[0]?.error);
      assert.ok(long.length > 1_000 && long.length < 200_000, `kept ${long.length} characters`);

      // Only the delivery set back to pending comes back, once it is due, with its next attempt number.
      assert.deepEqual(await s.store.claim(NOW + 4_999, 10), []);
      const again = await s.store.claim(NOW + 5_000, 10);
      assert.deepEqual(
        again.map((d) => [d.action, d.attempt]),
        [["retry", 2]],
      );
    });

    test("recover sets deliveries left running back to pending, keeping their attempt count", async () => {
      const s = subject();
      await s.store.ingest(incoming("evt_1"), deliveries("a", "b"));
      await s.store.ingest(incoming("evt_2", { receivedAt: NOW + 100_000 }), deliveries("c"));
      assert.equal((await s.store.claim(NOW, 10)).length, 2);
      assert.equal(await s.store.recover(NOW + 10), 2);
      assert.equal(await s.store.recover(NOW + 10), 0, "nothing is left running");
      assert.deepEqual(plain(s.query("SELECT action, status, attempts, next_at FROM deliveries ORDER BY action")), [
        { action: "a", status: "pending", attempts: 1, next_at: NOW + 10 },
        { action: "b", status: "pending", attempts: 1, next_at: NOW + 10 },
        { action: "c", status: "pending", attempts: 0, next_at: NOW + 100_000 },
      ]);
      const resumed = await s.store.claim(NOW + 10, 10);
      assert.deepEqual(
        resumed.map((d) => [d.action, d.attempt]),
        [
          ["a", 2],
          ["b", 2],
        ],
      );
    });

    test("nextDue is the earliest next attempt among pending deliveries only", async () => {
      const s = subject();
      assert.equal(await s.store.nextDue(), null);
      await s.store.ingest(incoming("evt_late", { receivedAt: NOW + 9_000 }), deliveries("a"));
      await s.store.ingest(incoming("evt_early"), deliveries("a"));
      assert.equal(await s.store.nextDue(), NOW);
      const [early] = await s.store.claim(NOW, 1);
      assert.equal(early?.eventId, "evt_early");
      assert.equal(await s.store.nextDue(), NOW + 9_000, "a running delivery is not due");
      assert.ok(early);
      await s.store.finish({ deliveryId: early.id, attempt: 1, startedAt: NOW, finishedAt: NOW, status: "done" });
      assert.equal(await s.store.nextDue(), NOW + 9_000);
    });

    test("the storage is durable: journal_mode=wal and synchronous=FULL", () => {
      const s = subject();
      assert.equal(String(s.query("PRAGMA journal_mode")[0]?.journal_mode).toLowerCase(), "wal");
      assert.equal(Number(s.query("PRAGMA synchronous")[0]?.synchronous), 2, "synchronous=FULL is 2");
    });

    test("a failing commit rejects every write in its batch with StoreUnavailableError and writes nothing", async () => {
      const s = subject();
      await s.store.ingest(incoming("evt_0"), deliveries("a"));
      const [claimed] = await s.store.claim(NOW, 1);
      assert.ok(claimed);
      s.failCommits(true);
      const batch = [
        s.store.ingest(incoming("evt_1"), deliveries("a")),
        s.store.ingest(incoming("evt_2"), deliveries("a", "b")),
        s.store.finish({ deliveryId: claimed.id, attempt: 1, startedAt: NOW, finishedAt: NOW, status: "done" }),
      ];
      const outcomes = await Promise.allSettled(batch);
      for (const outcome of outcomes) {
        assert.equal(outcome.status, "rejected");
        const error = (outcome as PromiseRejectedResult).reason;
        assert.ok(error instanceof StoreUnavailableError, String(error));
        assert.equal(error.code, "store_unavailable");
        assert.equal(error.status, 503, "so Stripe delivers the event again");
      }
      assert.equal(count(s, "events"), 1);
      assert.equal(count(s, "deliveries"), 1);
      assert.equal(count(s, "attempts"), 0);
      assert.deepEqual(plain(s.query("SELECT status FROM deliveries")), [{ status: "running" }]);
      // Once the storage is back, the same writes succeed: no transaction was left open.
      s.failCommits(false);
      assert.equal(await s.store.ingest(incoming("evt_1"), deliveries("a")), "stored");
      assert.equal(count(s, "events"), 2);
    });

    test("close commits writes already queued, and writes after it are refused", async () => {
      const s = subject();
      const queued = s.store.ingest(incoming("evt_1"), deliveries("a"));
      await s.store.close();
      assert.equal(await queued, "stored");
      await assert.rejects(s.store.ingest(incoming("evt_2"), deliveries("a")), StoreUnavailableError);
    });
  });
}

/** A subject for the SQLite store on whichever driver `openDatabase` comes from (bun:sqlite, node:sqlite). */
export function sqliteSubject(openDatabase: (path: string) => SqlDatabase): StoreSubject {
  const dir = mkdtempSync(join(tmpdir(), "payhook-store-"));
  const db = openDatabase(join(dir, "payhook.db"));
  let commits = 0;
  let failing = false;
  const watched: SqlDatabase = {
    exec(sql) {
      if (/^\s*COMMIT\b/i.test(sql)) {
        // SQLite answers a COMMIT it cannot make durable (disk full, I/O error) with an error, like this one.
        if (failing) throw new Error("disk I/O error");
        db.exec(sql);
        commits += 1;
        return;
      }
      db.exec(sql);
    },
    prepare: (sql) => db.prepare(sql),
    close: () => db.close(),
  };
  return {
    store: openSqliteStore(watched),
    query: (sql) => db.prepare(sql).all(),
    commits: () => commits,
    failCommits: (on) => {
      failing = on;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Cases for the SQLite store alone: what it refuses to open. */
export function sqliteOpenContract(name: string, openDatabase: (path: string) => SqlDatabase): void {
  describe(`SQLite store on ${name}`, () => {
    test("refuses storage that cannot be made durable (an in-memory database has no WAL)", () => {
      const db = openDatabase(":memory:");
      try {
        assert.throws(
          () => openSqliteStore(db),
          (error: unknown) =>
            error instanceof StoreError && error.code === "store_not_durable" && /journal_mode=wal/.test(error.message),
        );
      } finally {
        db.close();
      }
    });

    test("a reopened store keeps its events and does not migrate twice", async () => {
      const dir = mkdtempSync(join(tmpdir(), "payhook-store-"));
      try {
        const first = openSqliteStore(openDatabase(join(dir, "payhook.db")));
        await first.ingest(incoming("evt_1"), deliveries("a"));
        await first.close();
        const second = openSqliteStore(openDatabase(join(dir, "payhook.db")));
        assert.equal(await second.ingest(incoming("evt_1"), deliveries("a")), "duplicate");
        assert.equal(await second.nextDue(), NOW);
        await second.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const NOW = 1_760_000_000_000;

function incoming(id: string, overrides: Partial<IncomingEvent> = {}): IncomingEvent {
  return {
    id,
    type: "invoice.paid",
    object: "event",
    livemode: false,
    account: null,
    apiVersion: "2025-09-30.clover",
    created: Math.floor(NOW / 1000),
    receivedAt: NOW,
    endpoint: "/webhook",
    body: bytes(`{"id":"${id}","object":"event","type":"invoice.paid"}`),
    ...overrides,
  };
}

function deliveries(...actions: string[]): NewDelivery[] {
  return actions.map((action) => ({ action, digest: `digest-${action}` }));
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function count(s: StoreSubject, table: string): number {
  return Number(s.query(`SELECT COUNT(*) AS n FROM ${table}`)[0]?.n);
}

/** Rows as plain objects (node:sqlite returns null-prototype ones), so deepEqual compares values only. */
function plain(rows: Record<string, SqlValue>[]): Record<string, SqlValue>[] {
  return rows.map((row) => ({ ...row }));
}
