/**
 * @module The Store contract on PostgreSQL, one throwaway cluster per test file and one fresh schema per test,
 * plus the cases only a store shared by several instances has: leases, fencing, concurrent duplicates across
 * instances, wake-ups, migrations racing, pruning one instance at a time. node:test, so Bun and Deno run it.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import postgres from "postgres";
import { StoreError } from "../../src/errors.ts";
import { migrate, SCHEMA_VERSION } from "../../src/store/postgres/migrations.ts";
import { openPostgresStore } from "../../src/store/postgres/open.ts";
import type { PostgresSettings } from "../../src/store/postgres/settings.ts";
import type { PostgresStore } from "../../src/store/postgres/store.ts";
import { type Cluster, startCluster } from "../helpers/postgres.ts";
import { deliveries, incoming, NOW } from "./factory.ts";
import { storeContracts } from "./index.ts";
import type { StoreSubject } from "./store.ts";

const LEASE = 30_000;
const BIGINT = { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) };

let schemas = 0;

/**
 * Starts this test file's cluster (at the top level: initdb can take longer than a hook's timeout on a busy
 * 2-core machine) and defines every contract suite on it; the cluster goes when the file's tests are done.
 */
export async function postgresContracts(runtime: string): Promise<void> {
  const cluster = await startCluster();
  after(() => cluster.stop());
  const name = `PostgreSQL on ${runtime}`;
  storeContracts(name, () => postgresSubject(cluster));
  sharedStoreContract(name, () => cluster);
}

function settings(cluster: Cluster, schema: string, leaseMs = LEASE): PostgresSettings {
  return {
    kind: "postgres",
    label: `postgres://postgres@127.0.0.1:${cluster.port}/postgres`,
    connection: {
      host: "127.0.0.1",
      port: cluster.port,
      database: "postgres",
      user: "postgres",
      password: "",
      sslmode: "disable",
      connectTimeout: 5,
    },
    pool: 4,
    leaseMs,
    commitTimeoutMs: 10_000,
    schema,
  };
}

function openInstance(cluster: Cluster, schema: string, instance: string, leaseMs = LEASE): Promise<PostgresStore> {
  return openPostgresStore(settings(cluster, schema, leaseMs), { instance, version: "0.0.0-test" });
}

/** A client that reads schema `schema` for the test, with int8 as numbers like the store's. */
function reader(cluster: Cluster, schema: string) {
  return postgres({
    host: "127.0.0.1",
    port: cluster.port,
    database: "postgres",
    user: "postgres",
    max: 1,
    onnotice: () => {},
    connection: { search_path: schema },
    types: { bigint: BIGINT },
  } as never);
}

/**
 * A fresh store in a schema of its own. Deferred constraint triggers (created in the test's schema only) count
 * the transactions that wrote, and make COMMIT itself fail while failCommits is on, as a full disk would.
 */
async function postgresSubject(cluster: Cluster, leaseMs = LEASE): Promise<StoreSubject> {
  schemas += 1;
  const schema = `t${schemas}`;
  const store = await openInstance(cluster, schema, "instance-a", leaseMs);
  const sql = reader(cluster, schema);
  await sql.unsafe(`
    CREATE TABLE test_fail (failing boolean NOT NULL);
    INSERT INTO test_fail VALUES (false);
    CREATE TABLE test_commits (txid bigint PRIMARY KEY);
    CREATE FUNCTION test_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT failing FROM ${schema}.test_fail) THEN
        RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100';
      END IF;
      INSERT INTO ${schema}.test_commits VALUES (txid_current()) ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER test_commit AFTER INSERT OR UPDATE ON events
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_commit();
    CREATE CONSTRAINT TRIGGER test_commit AFTER INSERT OR UPDATE ON deliveries
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_commit();
    CREATE CONSTRAINT TRIGGER test_commit AFTER INSERT OR UPDATE ON attempts
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_commit();`);
  return {
    store,
    query: async (text) => [...(await sql.unsafe(text))] as Record<string, unknown>[],
    commits: async () => Number((await sql.unsafe("SELECT count(*) AS n FROM test_commits"))[0]?.n),
    failCommits: async (on) => {
      await sql.unsafe("UPDATE test_fail SET failing = $1", [on]);
    },
    dispose: async () => {
      await sql.end({ timeout: 1 });
    },
  };
}

/** Waits for a condition, a bound on waiting and never an assertion on time. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function sharedStoreContract(name: string, cluster: () => Cluster): void {
  describe(`Shared store (several instances): ${name}`, () => {
    /** Two instances on one fresh schema; closed after the test. */
    async function instances(leaseMs = LEASE): Promise<[PostgresStore, PostgresStore, () => Promise<void>]> {
      schemas += 1;
      const schema = `t${schemas}`;
      const a = await openInstance(cluster(), schema, "instance-a", leaseMs);
      const b = await openInstance(cluster(), schema, "instance-b", leaseMs);
      return [a, b, async () => void (await Promise.all([a.close(), b.close()]))];
    }

    test("an event PostgreSQL cannot store fails alone: the events that shared its group commit are stored", async () => {
      const [a, b, close] = await instances();
      try {
        const good = Array.from({ length: 20 }, (_, i) => incoming(`evt_ok_${i}`));
        const bad = { ...incoming("evt_bad"), account: "acct_\u0000" };
        // One turn of the event loop: all of them join one batch.
        const results = await Promise.allSettled([bad, ...good].map((e) => a.ingest(e, deliveries("x"))));
        assert.equal(results[0]?.status, "rejected");
        assert.deepEqual(
          results.slice(1).map((r) => r.status),
          Array(20).fill("fulfilled"),
        );
        assert.equal((await b.listEvents({})).length, 20);
      } finally {
        await close();
      }
    });

    test("instances with different configs claim only their own action versions; a version nobody runs goes to its name", async () => {
      const [a, b, close] = await instances();
      try {
        const old = NOW - 2 * LEASE;
        await a.ingest(incoming("evt_1", { receivedAt: old }), [{ action: "x", digest: "v0" }]);
        await a.ingest(incoming("evt_2", { receivedAt: old }), [{ action: "x", digest: "v0" }]);
        await a.ingest(incoming("evt_3", { receivedAt: old }), [{ action: "x", digest: "v1" }]);
        const onA = { versions: [["x", "v0"]] as [string, string][], names: ["x"] };
        const onB = { versions: [["x", "v1"]] as [string, string][], names: ["x"] };
        assert.deepEqual(
          (await a.claim(NOW, 1, [], onA)).map((d) => [d.eventId, d.digest]),
          [["evt_1", "v0"]],
        );
        // A announced v0: B, whose x is v1, leaves evt_2 to it however long it waits.
        assert.deepEqual(
          (await b.claim(NOW, 10, [], onB)).map((d) => [d.eventId, d.digest]),
          [["evt_3", "v1"]],
        );
        assert.equal(await b.nextDue(onB, NOW), null);
        await a.close();
        // A stopped: no live instance has x v0 any more, so B runs it as its own x (as after a restart).
        assert.deepEqual(
          (await b.claim(NOW, 10, [], onB)).map((d) => [d.eventId, d.digest]),
          [["evt_2", "v0"]],
        );
        // One created just now by an instance that has not announced its version yet waits a lease for it.
        await b.ingest(incoming("evt_4", { receivedAt: NOW }), [{ action: "x", digest: "v2" }]);
        assert.deepEqual(await b.claim(NOW, 10, [], onB), []);
        const due = await b.nextDue(onB, NOW);
        assert.ok(due !== null && due >= NOW + LEASE, `due at ${due}, a lease after it was created`);
        assert.ok((await b.claim(NOW + LEASE, 10, [], onB)).some((d) => d.eventId === "evt_4"));
      } finally {
        await close();
      }
    });

    test("a claim whose lease ran out is taken over with a new token; the old holder's result changes nothing", async () => {
      const [a, b, close] = await instances();
      try {
        await a.ingest(incoming("evt_1"), deliveries("x"));
        const [held] = await a.claim(NOW, 10);
        assert.ok(held?.token !== undefined);
        assert.deepEqual(await b.claim(NOW + LEASE - 1, 10), [], "the lease still holds");
        const [taken] = await b.claim(NOW + LEASE, 10);
        assert.equal(taken?.id, held.id);
        assert.equal(taken?.attempt, 2, "the lost attempt still counts, so a poison event still goes dead");
        assert.ok(taken?.token !== undefined && taken.token !== held.token);
        const late = { deliveryId: held.id, attempt: 1, startedAt: NOW, finishedAt: NOW + LEASE + 5 };
        assert.equal(await a.finish({ ...late, status: "failed", error: "late", token: held.token }), false);
        assert.deepEqual(await a.renew([{ id: held.id, token: held.token }], NOW + LEASE + 6), []);
        const view = (await b.getEvent("evt_1"))?.deliveries[0];
        assert.equal(view?.status, "running", "the old holder's result did not overwrite the new claim");
        assert.equal(view?.attempts, 2);
        assert.equal(
          await b.finish({ ...late, attempt: 2, status: "done", token: taken.token, finishedAt: NOW + LEASE + 9 }),
          true,
        );
        const history = (await b.getEvent("evt_1"))?.deliveries[0]?.history ?? [];
        assert.deepEqual(
          history.map((h) => [h.attempt, h.status]),
          [[2, "done"]],
        );
      } finally {
        await close();
      }
    });

    test("the heartbeat keeps a running claim: renewed, it is not taken over when the first lease would have run out", async () => {
      const [a, b, close] = await instances();
      try {
        await a.ingest(incoming("evt_1"), deliveries("x", "y"));
        const claimed = await a.claim(NOW, 10);
        const renewAt = NOW + LEASE / 2;
        const kept = await a.renew(
          claimed.map((d) => ({ id: d.id, token: d.token })),
          renewAt,
        );
        assert.deepEqual(
          kept,
          claimed.map((d) => d.id),
        );
        assert.deepEqual(await b.claim(NOW + LEASE + 1, 10), []);
        assert.equal((await b.claim(renewAt + LEASE, 10)).length, 2, "taken over once the renewed lease ran out");
      } finally {
        await close();
      }
    });

    test("recover takes back only deliveries whose lease ran out, not those another instance is running", async () => {
      const [a, b, close] = await instances();
      try {
        await a.ingest(incoming("evt_1"), deliveries("x"));
        await a.ingest(incoming("evt_2", { receivedAt: NOW + 10_000 }), deliveries("x"));
        assert.equal((await a.claim(NOW, 10)).length, 1);
        assert.equal((await a.claim(NOW + 10_000, 10)).length, 1);
        // A restarting instance B: evt_1's lease ran out (NOW + LEASE), evt_2's runs until NOW + 10 s + LEASE.
        assert.equal(await b.recover(NOW + LEASE), 1);
        const states = (await b.listEvents({})).map((e) => [e.id, e.deliveries[0]?.status]);
        assert.deepEqual(states, [
          ["evt_2", "running"],
          ["evt_1", "pending"],
        ]);
      } finally {
        await close();
      }
    });

    test("claims of two instances at once never overlap, and together take everything due", async () => {
      const [a, b, close] = await instances();
      try {
        const ids = Array.from({ length: 120 }, (_, i) => `evt_${String(i).padStart(3, "0")}`);
        await Promise.all(ids.map((id) => a.ingest(incoming(id), deliveries("x", "y"))));
        const taken: number[][] = [[], []];
        const drain = async (store: PostgresStore, into: number[]) => {
          for (;;) {
            const claimed = await store.claim(NOW, 7);
            if (claimed.length === 0) return;
            into.push(...claimed.map((d) => d.id));
          }
        };
        await Promise.all([drain(a, taken[0] as number[]), drain(b, taken[1] as number[])]);
        const all = [...(taken[0] as number[]), ...(taken[1] as number[])];
        assert.equal(all.length, 240);
        assert.equal(new Set(all).size, 240, "no delivery was claimed twice");
      } finally {
        await close();
      }
    });

    test("ordered deliveries claimed by two instances at once: one per key at a time, in created order", async () => {
      const [a, b, close] = await instances();
      try {
        const keys = ["sub_a", "sub_b", "sub_c"];
        // Stored newest first, half on each instance, so created order is not arrival order.
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => 19 - i).flatMap((i) =>
            keys.map((key) =>
              (i % 2 === 0 ? a : b).ingest(
                { ...incoming(`evt_${key}_${String(i).padStart(2, "0")}`), created: 1_000 + i },
                [{ action: "sync", digest: "d", orderKey: key }],
              ),
            ),
          ),
        );
        const running = new Map<string, string>();
        const order = new Map<string, string[]>(keys.map((k) => [k, []]));
        const work = async (store: PostgresStore) => {
          for (let idle = 0; idle < 50; ) {
            const claimed = await store.claim(NOW, 4);
            if (claimed.length === 0) {
              idle += 1;
              await new Promise((resolve) => setImmediate(resolve));
              continue;
            }
            idle = 0;
            await Promise.all(
              claimed.map(async (d) => {
                const key = d.orderKey as string;
                assert.equal(running.get(key), undefined, `${d.eventId} claimed while ${running.get(key)} runs`);
                running.set(key, d.eventId);
                order.get(key)?.push(d.eventId);
                await new Promise((resolve) => setImmediate(resolve));
                running.delete(key);
                const record = { deliveryId: d.id, attempt: d.attempt, startedAt: NOW, finishedAt: NOW };
                assert.equal(await store.finish({ ...record, status: "done", token: d.token }), true);
              }),
            );
          }
        };
        await Promise.all([work(a), work(b), work(a), work(b)]);
        for (const key of keys) {
          const ids = Array.from({ length: 20 }, (_, i) => `evt_${key}_${String(i).padStart(2, "0")}`);
          assert.deepEqual(order.get(key), ids, key);
        }
      } finally {
        await close();
      }
    });

    test("a taken-over ordered delivery keeps its key held until it finishes", async () => {
      const [a, b, close] = await instances();
      try {
        await a.ingest({ ...incoming("evt_1"), created: 1 }, [{ action: "sync", digest: "d", orderKey: "k" }]);
        await a.ingest({ ...incoming("evt_2"), created: 2 }, [{ action: "sync", digest: "d", orderKey: "k" }]);
        const [held] = await a.claim(NOW, 10);
        assert.equal(held?.eventId, "evt_1");
        const [taken, ...rest] = await b.claim(NOW + LEASE, 10);
        assert.equal(taken?.eventId, "evt_1", "the lease ran out: evt_1 is taken over");
        assert.deepEqual(rest, [], "and evt_2 still waits for it");
        assert.equal((await b.getEvent("evt_2"))?.deliveries[0]?.nextAt, null, "shown waiting, with no next attempt");
        assert.deepEqual(await a.claim(NOW + LEASE, 10), []);
        const late = { deliveryId: held.id, attempt: 1, startedAt: NOW, finishedAt: NOW + LEASE };
        assert.equal(await a.finish({ ...late, status: "done", token: held.token }), false);
        assert.deepEqual(await a.claim(NOW + LEASE, 10), [], "the old holder's result freed nothing");
        assert.equal(await b.finish({ ...late, attempt: 2, status: "done", token: taken.token }), true);
        assert.deepEqual(
          (await a.claim(NOW + LEASE, 10)).map((d) => d.eventId),
          ["evt_2"],
        );
      } finally {
        await close();
      }
    });

    test("the database itself refuses a second running delivery for one order key", async () => {
      const [a, , close] = await instances();
      const sql = reader(cluster(), `t${schemas}`);
      try {
        await a.ingest({ ...incoming("evt_1"), created: 1 }, [{ action: "sync", digest: "d", orderKey: "k" }]);
        await a.ingest({ ...incoming("evt_2"), created: 2 }, [{ action: "sync", digest: "d", orderKey: "k" }]);
        assert.equal((await a.claim(NOW, 10)).length, 1);
        await assert.rejects(
          sql.unsafe("UPDATE deliveries SET status = 'running' WHERE event_id = 'evt_2'"),
          (error: unknown) => (error as { code?: string }).code === "23505",
        );
      } finally {
        await sql.end({ timeout: 1 });
        await close();
      }
    });

    test("the same events sent to two instances at once: each stored once, the other copy a duplicate, no error", async () => {
      const [a, b, close] = await instances();
      try {
        const ids = Array.from({ length: 60 }, (_, i) => `evt_${String(i).padStart(3, "0")}`);
        // Opposite orders on the two instances: the worst case for row locks taken in arrival order.
        const results = await Promise.all([
          ...ids.map((id) => a.ingest(incoming(id), deliveries("x", "y")).then((r) => [id, r.status])),
          ...[...ids].reverse().map((id) => b.ingest(incoming(id), deliveries("x", "y")).then((r) => [id, r.status])),
        ]);
        for (const id of ids) {
          const outcomes = results.filter(([i]) => i === id).map(([, r]) => r);
          assert.deepEqual(outcomes.sort(), ["duplicate", "stored"], id);
        }
        const events = await a.listEvents({});
        assert.equal(events.length, 60);
        assert.ok(events.every((e) => e.deliveries.length === 2));
      } finally {
        await close();
      }
    });

    test("a delivery stored by one instance wakes the others (LISTEN/NOTIFY)", async () => {
      const [a, b, close] = await instances();
      try {
        let wakes = 0;
        b.subscribe(() => {
          wakes += 1;
        });
        await until(() => wakes >= 1, "the first wake-up, on listening");
        const before = wakes;
        await a.ingest(incoming("evt_1"), deliveries("x"));
        await until(() => wakes > before, "a wake-up after another instance stored a delivery");
      } finally {
        await close();
      }
    });

    test("one instance prunes at a time: while another holds the prune lock, prune deletes nothing", async () => {
      const [a, , close] = await instances();
      const schema = `t${schemas}`;
      const locker = reader(cluster(), schema);
      try {
        await a.ingest(incoming("evt_old", { receivedAt: NOW - 40 * 86_400_000 }), []);
        const held = await locker.reserve();
        await held.unsafe("SELECT pg_advisory_lock(hashtext($1))", [`payhook.prune.${schema}`]);
        assert.equal(await a.prune(NOW, 100), 0);
        await held.unsafe("SELECT pg_advisory_unlock(hashtext($1))", [`payhook.prune.${schema}`]);
        held.release();
        assert.equal(await a.prune(NOW, 100), 1);
      } finally {
        await locker.end({ timeout: 1 });
        await close();
      }
    });

    test("instances racing for the catch-up lease: exactly one holds it, and the other takes it once it expired", async () => {
      const [a, b, close] = await instances();
      try {
        const won = await Promise.all(
          Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).acquireLease("catch-up", `h${i}`, 1000, NOW)),
        );
        assert.equal(won.filter(Boolean).length, 1);
        const holder = `h${won.indexOf(true)}`;
        assert.equal(await b.acquireLease("catch-up", "other", 1000, NOW + 999), false);
        assert.equal(await a.acquireLease("catch-up", holder, 1000, NOW + 500), true, "its holder renews it");
        assert.equal(await b.acquireLease("catch-up", "other", 1000, NOW + 1500), true, "expired: taken over");
      } finally {
        await close();
      }
    });

    test("migrating from schema 1 fills in the object and customer ids of events stored before, from their bytes", async () => {
      schemas += 1;
      const schema = `t${schemas}`;
      await (await openInstance(cluster(), schema, "instance-a")).close();
      const sql = reader(cluster(), schema);
      try {
        // Back to schema 1 as the previous payhook left it, with events stored by it.
        await sql.unsafe(`
          ALTER TABLE events DROP COLUMN object_id, DROP COLUMN customer_id, DROP COLUMN source, DROP COLUMN verified_by;
          ALTER TABLE deliveries DROP COLUMN backfilled_at;
          ALTER TABLE attempts DROP COLUMN fetched;
          DROP TABLE leases;
          DROP INDEX events_page, attempts_finished, deliveries_failed;
          ALTER TABLE deliveries DROP COLUMN order_key, DROP COLUMN order_created, DROP COLUMN replayed;
          DROP TABLE order_marks;
          DROP TABLE instance_actions;
          DROP TABLE event_copies;
          DROP TABLE upgrades;
          DROP INDEX events_account;
          DROP TABLE action_controls, audit;
          DROP TABLE notifications, incidents;
          DELETE FROM schema_version WHERE version > 1;`);
        const old = async (id: string, object: string, body: string) => {
          await sql.unsafe(
            `INSERT INTO events (id, type, object, livemode, account, api_version, created, received_at, endpoint, body)
             VALUES ($1, 't', $2, false, NULL, NULL, 1, $3, '/webhook', convert_to($4, 'UTF8'))`,
            [id, object, NOW, body] as never[],
          );
        };
        await old("evt_charge", "event", '{"data":{"object":{"id":"ch_1","object":"charge","customer":"cus_1"}}}');
        await old("evt_cus", "event", '{"data":{"object":{"id":"cus_2","object":"customer"}}}');
        await old("evt_exp", "event", '{"data":{"object":{"id":"pi_1","customer":{"id":"cus_3"}}}}');
        await old("evt_thin", "v2.core.event", '{"related_object":{"id":"mtr_1"}}');
        await old("evt_bad", "event", "not json");
        const store = await openInstance(cluster(), schema, "instance-b");
        try {
          const ids = async (id: string) => {
            const e = await store.getEvent(id);
            return [e?.objectId, e?.customerId, e?.source];
          };
          assert.deepEqual(await ids("evt_charge"), ["ch_1", "cus_1", "pushed"]);
          assert.deepEqual(await ids("evt_cus"), ["cus_2", "cus_2", "pushed"]);
          assert.deepEqual(await ids("evt_exp"), ["pi_1", "cus_3", "pushed"]);
          assert.deepEqual(await ids("evt_thin"), ["mtr_1", null, "pushed"]);
          assert.deepEqual(await ids("evt_bad"), [null, null, "pushed"]);
          assert.deepEqual(
            (await store.listEvents({ search: "cus_3" })).map((e) => e.id),
            ["evt_exp"],
          );
        } finally {
          await store.close();
        }
      } finally {
        await sql.end({ timeout: 1 });
      }
    });

    test("instances starting at once migrate once; a schema from a newer payhook is refused with the version to run", async () => {
      schemas += 1;
      const schema = `t${schemas}`;
      const opened = await Promise.all(["a", "b", "c"].map((n) => openInstance(cluster(), schema, `instance-${n}`)));
      await Promise.all(opened.map((s) => s.close()));
      const sql = reader(cluster(), schema);
      try {
        assert.deepEqual(
          [...(await sql.unsafe("SELECT version, payhook FROM schema_version ORDER BY version"))].map((r) => ({
            ...r,
          })),
          Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1, payhook: "0.0.0-test" })),
        );
        // The version is text read from the database: a terminal escape in it is shown, never sent to the terminal.
        await sql.unsafe("INSERT INTO schema_version (version, payhook) VALUES (99, $1)", ["9.9.9\u001b[2J"]);
        await assert.rejects(
          openInstance(cluster(), schema, "old"),
          (error: unknown) =>
            error instanceof StoreError &&
            error.code === "store_too_new" &&
            /version 99/.test(error.message) &&
            error.message.includes("run payhook 9.9.9\\u001b[2J or newer") &&
            !error.message.includes("\u001b"),
        );
        // migrate() alone says the same.
        await assert.rejects(migrate(sql as never, schema, "0.0.0-test"), StoreError);
      } finally {
        await sql.end({ timeout: 1 });
      }
    });
  });
}
