/**
 * @module The Store contract suite: every Store implementation must pass it. It is written with node:test
 * and node:assert, which both `bun test` and `deno test` run, so one suite covers the SQLite store on
 * bun:sqlite (sqlite.bun.test.ts) and on node:sqlite (sqlite.deno.test.ts); index.ts runs every section.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, test } from "node:test";
import { StoreError, StoreUnavailableError } from "../../src/errors.ts";
import type { SqlDatabase } from "../../src/runtime/types.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { Store } from "../../src/store/types.ts";
import { deliveries, incoming, NOW } from "./factory.ts";

/** A store under test, with the means to look behind it and to make its storage fail. */
export interface StoreSubject {
  store: Store;
  /** Runs a read-only query against the store's storage (SQL that SQLite and PostgreSQL both read alike). */
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** How many transactions that wrote events have been committed so far. */
  commits(): Promise<number>;
  /** While on, every commit fails as a full or failing disk would make it fail. */
  failCommits(on: boolean): Promise<void>;
  /** Releases the storage (after the store is closed). */
  dispose(): void | Promise<void>;
}

/** Makes a fresh subject: a new, empty store. */
export type OpenSubject = () => StoreSubject | Promise<StoreSubject>;

/** Opens subjects for the tests of one describe block; each is closed and disposed after its test. */
export function subjects(open: OpenSubject): () => Promise<StoreSubject> {
  const opened: StoreSubject[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) {
      await s.store.close();
      await s.dispose();
    }
  });
  return async () => {
    const s = await open();
    opened.push(s);
    return s;
  };
}

/** Defines the contract's cases for the store that `open` makes, a fresh one per call. */
export function storeContract(name: string, open: OpenSubject): void {
  describe(`Store contract: ${name}`, () => {
    const subject = subjects(open);

    test("ingest stores an event once and reports a duplicate without writing anything", async () => {
      const s = await subject();
      const body = bytes('{"id":"evt_1","note":"caf\u00e9 \u2603"}');
      assert.equal((await s.store.ingest(incoming("evt_1", { body }), deliveries("a", "b"))).status, "stored");
      assert.equal(
        (await s.store.ingest(incoming("evt_1", { type: "other.type" }), deliveries("c"))).status,
        "duplicate",
      );
      assert.deepEqual(plain(await s.query("SELECT id, type FROM events")), [{ id: "evt_1", type: "invoice.paid" }]);
      assert.deepEqual(plain(await s.query("SELECT action, status, attempts FROM deliveries ORDER BY action")), [
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
      const s = await subject();
      // Two deliveries with the same action name break UNIQUE (event_id, action) after the event row is written.
      const result = s.store.ingest(incoming("evt_1"), deliveries("a", "a"));
      await assert.rejects(result, StoreUnavailableError);
      assert.equal(await count(s, "events"), 0);
      assert.equal(await count(s, "deliveries"), 0);
      assert.equal((await s.store.ingest(incoming("evt_1"), deliveries("a"))).status, "stored");
      assert.equal(await count(s, "deliveries"), 1);
    });

    test("concurrent ingests share one commit and every one of them resolves", async () => {
      const s = await subject();
      const before = await s.commits();
      const ids = Array.from({ length: 100 }, (_, i) => `evt_${i}`);
      const results = await Promise.all([
        ...ids.map((id) => s.store.ingest(incoming(id), deliveries("a"))),
        s.store.ingest(incoming("evt_0"), deliveries("a")),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        [...ids.map(() => "stored"), "duplicate"],
      );
      assert.equal((await s.commits()) - before, 1);
      assert.equal(await count(s, "events"), 100);
      assert.equal(await count(s, "deliveries"), 100);
    });

    test("claim takes only due pending deliveries, up to the limit, and counts the attempt before it runs", async () => {
      const s = await subject();
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
      assert.deepEqual(plain(await s.query("SELECT status, attempts FROM deliveries WHERE status = 'running'")), [
        { status: "running", attempts: 1 },
        { status: "running", attempts: 1 },
      ]);
      const rest = await s.store.claim(NOW, 10);
      assert.deepEqual(
        rest.map((d) => d.action),
        ["a", "b", "c"].filter((a) => !first.some((d) => d.action === a)),
      );
      assert.deepEqual(await s.store.claim(NOW + 10_000, 10), [], "running deliveries are not claimed again");
    });

    test("ingest can store deliveries claimed: running with their first attempt counted, as a claim leaves them", async () => {
      const s = await subject();
      const stored = await s.store.ingest(incoming("evt_1"), [
        { action: "a", digest: "digest-a", claimed: true },
        { action: "b", digest: "digest-b" },
        { action: "c", digest: "digest-c", claimed: true },
      ]);
      assert.equal(stored.status, "stored");
      assert.equal(stored.claims.length, 2);
      const rows = plain(await s.query("SELECT id, action, status, attempts FROM deliveries ORDER BY action"));
      assert.deepEqual(
        rows.map(({ action, status, attempts }) => ({ action, status, attempts })),
        [
          { action: "a", status: "running", attempts: 1 },
          { action: "b", status: "pending", attempts: 0 },
          { action: "c", status: "running", attempts: 1 },
        ],
      );
      // The claims name the rows, in the order the deliveries were given.
      assert.deepEqual(
        stored.claims.map((c) => c.id),
        [rows[0]?.id, rows[2]?.id].map(Number),
      );
      // A claim takes only the one left pending; the claimed ones are not claimed twice.
      assert.deepEqual(
        (await s.store.claim(NOW, 10)).map((d) => d.action),
        ["b"],
      );
      // Their results are recorded like any claim's (fenced by the token on a shared store).
      const [a] = stored.claims;
      assert.ok(a);
      const record = { deliveryId: a.id, attempt: 1, startedAt: NOW, finishedAt: NOW + 1, status: "done" as const };
      assert.equal(await s.store.finish({ ...record, ...(a.token === undefined ? {} : { token: a.token }) }), true);
      assert.deepEqual(plain(await s.query("SELECT status FROM deliveries WHERE action = 'a'")), [{ status: "done" }]);
      // Left running by a process that died before running it: recovered like a claim, its attempt kept.
      assert.equal(await s.store.recover(NOW + HOUR), 2);
      assert.deepEqual(plain(await s.query("SELECT status, attempts FROM deliveries WHERE action = 'c'")), [
        { status: "pending", attempts: 1 },
      ]);
      // A duplicate stores nothing and claims nothing.
      const again = await s.store.ingest(incoming("evt_1"), [{ action: "d", digest: "digest-d", claimed: true }]);
      assert.deepEqual(again, { status: "duplicate", claims: [] });
    });

    test("release puts claimed deliveries back, pending with their attempt given back, and leaves others alone", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_1"), deliveries("a", "b", "c"));
      const claimed = await s.store.claim(NOW, 10);
      const [kept, ...given] = claimed;
      assert.ok(kept);
      assert.equal(await s.store.release([...given.map((d) => d.id), 999], NOW + 5), 2);
      assert.deepEqual(plain(await s.query("SELECT status, attempts FROM deliveries ORDER BY status")), [
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
      const s = await subject();
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
        plain(
          await s.query("SELECT action, status, attempts, next_at, last_error FROM deliveries ORDER BY action"),
        ).map((r) => ({
          ...r,
          last_error: typeof r.last_error === "string" ? r.last_error.slice(0, 8) : r.last_error,
        })),
        [
          { action: "dead", status: "dead", attempts: 1, next_at: null, last_error: "xxxxxxxx" },
          { action: "done", status: "done", attempts: 1, next_at: null, last_error: null },
          { action: "failed", status: "failed", attempts: 1, next_at: null, last_error: "HTTP 400" },
          { action: "retry", status: "pending", attempts: 1, next_at: NOW + 5_000, last_error: "HTTP 502" },
        ],
      );
      const attempts = plain(
        await s.query(
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
      const s = await subject();
      await s.store.ingest(incoming("evt_1"), deliveries("a", "b"));
      await s.store.ingest(incoming("evt_2", { receivedAt: NOW + 100 * HOUR }), deliveries("c"));
      assert.equal((await s.store.claim(NOW, 10)).length, 2);
      // An hour later: past any lease, so on a shared store too these are deliveries of a process that is gone.
      const later = NOW + HOUR;
      assert.equal(await s.store.recover(later), 2);
      assert.equal(await s.store.recover(later), 0, "nothing is left running");
      assert.deepEqual(
        plain(await s.query("SELECT action, status, attempts, next_at FROM deliveries ORDER BY action")),
        [
          { action: "a", status: "pending", attempts: 1, next_at: later },
          { action: "b", status: "pending", attempts: 1, next_at: later },
          { action: "c", status: "pending", attempts: 0, next_at: NOW + 100 * HOUR },
        ],
      );
      const resumed = await s.store.claim(later, 10);
      assert.deepEqual(
        resumed.map((d) => [d.action, d.attempt]),
        [
          ["a", 2],
          ["b", 2],
        ],
      );
    });

    test("nextDue is the earliest next attempt among pending deliveries only", async () => {
      const s = await subject();
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

    test("a failing commit rejects every write in its batch with StoreUnavailableError and writes nothing", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_0"), deliveries("a"));
      const [claimed] = await s.store.claim(NOW, 1);
      assert.ok(claimed);
      await s.failCommits(true);
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
      assert.equal(await count(s, "events"), 1);
      assert.equal(await count(s, "deliveries"), 1);
      assert.equal(await count(s, "attempts"), 0);
      assert.deepEqual(plain(await s.query("SELECT status FROM deliveries")), [{ status: "running" }]);
      // Once the storage is back, the same writes succeed: no transaction was left open.
      await s.failCommits(false);
      assert.equal((await s.store.ingest(incoming("evt_1"), deliveries("a"))).status, "stored");
      assert.equal(await count(s, "events"), 2);
    });

    test("close commits writes already queued, and writes after it are refused", async () => {
      const s = await subject();
      const queued = s.store.ingest(incoming("evt_1"), deliveries("a"));
      await s.store.close();
      assert.equal((await queued).status, "stored");
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
    query: async (sql) => db.prepare(sql).all(),
    commits: async () => commits,
    failCommits: async (on) => {
      failing = on;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Cases for the SQLite store alone: what it refuses to open. */
export function sqliteOpenContract(name: string, openDatabase: (path: string) => SqlDatabase): void {
  describe(`SQLite store on ${name}`, () => {
    test("the storage is durable: journal_mode=wal and synchronous=FULL", async () => {
      const s = sqliteSubject(openDatabase);
      try {
        assert.equal(String((await s.query("PRAGMA journal_mode"))[0]?.journal_mode).toLowerCase(), "wal");
        assert.equal(Number((await s.query("PRAGMA synchronous"))[0]?.synchronous), 2, "synchronous=FULL is 2");
      } finally {
        await s.store.close();
        s.dispose();
      }
    });

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
        assert.equal((await second.ingest(incoming("evt_1"), deliveries("a"))).status, "duplicate");
        assert.equal(await second.nextDue(), NOW);
        await second.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const HOUR = 3_600_000;

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function count(s: StoreSubject, table: string): Promise<number> {
  return Number((await s.query(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.n);
}

/** Rows as plain objects (node:sqlite returns null-prototype ones), so deepEqual compares values only. */
function plain(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((row) => ({ ...row }));
}
