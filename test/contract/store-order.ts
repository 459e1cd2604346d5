/**
 * @module The Store contract for ordered deliveries (`order:` on an action): every Store implementation must pass
 * it. One delivery per (action, order key) runs at a time, in the order of the events' `created` (ties: arrival);
 * a pending or running one holds its key, a dead or failed one does not; the newest delivered event per key is
 * reported with older deliveries so `stale: skip` can skip them. Written with node:test and node:assert, so
 * `bun test` and `deno test` both run it (see index.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AttemptRecord, ClaimedDelivery, NewDelivery } from "../../src/store/types.ts";
import { incoming, NOW } from "./factory.ts";
import { type OpenSubject, type StoreSubject, subjects } from "./store.ts";

const T = Math.floor(NOW / 1000);
/** An hour later: past any lease, so on a shared store too a delivery left running then belongs to a process gone. */
const LATER = NOW + 3_600_000;

export function storeOrderContract(name: string, open: OpenSubject): void {
  describe(`Store contract, ordering: ${name}`, () => {
    const subject = subjects(open);

    test("one key runs one delivery at a time, in created order, whatever the arrival order", async () => {
      const s = await subject();
      // Sent newest first, as Stripe may.
      await ingest(s, "evt_3", T + 3, ordered("sync", "sub_1"));
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      const seen: string[] = [];
      for (let turn = 0; turn < 3; turn++) {
        const claimed = await s.store.claim(NOW, 10);
        assert.equal(claimed.length, 1, "only the key's oldest pending delivery is claimable");
        assert.deepEqual(await s.store.claim(NOW, 10), [], "nothing else while it runs");
        const [d] = claimed as [ClaimedDelivery];
        assert.equal(d.orderKey, "sub_1");
        seen.push(d.eventId);
        await finish(s, d, "done");
      }
      assert.deepEqual(seen, ["evt_1", "evt_2", "evt_3"]);
    });

    test("events with the same created second run in the order they were stored", async () => {
      const s = await subject();
      for (const id of ["evt_b", "evt_a", "evt_c"]) await ingest(s, id, T, ordered("sync", "sub_1"));
      const seen: string[] = [];
      for (let turn = 0; turn < 3; turn++) {
        const [d] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
        seen.push(d.eventId);
        assert.equal(d.newer, undefined, "an event of the same second is never stale against another");
        await finish(s, d, "done");
      }
      assert.deepEqual(seen, ["evt_b", "evt_a", "evt_c"]);
    });

    test("other keys, other actions and unordered deliveries are not held up", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"), ordered("mail", "sub_1"), plain("log"));
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"), plain("log"));
      await ingest(s, "evt_3", T + 3, ordered("sync", "sub_2"));
      const claimed = await s.store.claim(NOW, 10);
      assert.deepEqual(claimed.map((d) => `${d.eventId}:${d.action}`).sort(), [
        "evt_1:log",
        "evt_1:mail",
        "evt_1:sync",
        "evt_2:log",
        "evt_3:sync",
      ]);
      assert.equal(claimed.find((d) => d.action === "log")?.orderKey, undefined);
    });

    test("a delivery waits while an earlier one for its key waits for a retry, and nextDue skips it", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      const [first] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      assert.equal(first.eventId, "evt_1");
      await finish(s, first, "pending", { nextAt: NOW + 60_000, error: "HTTP 503" });
      assert.deepEqual(await s.store.claim(NOW + 1, 10), [], "evt_2 may not overtake evt_1's retry");
      // The worker sleeps until the retry is due, not in a loop on the held delivery.
      assert.equal(await s.store.nextDue(), NOW + 60_000);
      const [retry] = (await s.store.claim(NOW + 60_000, 10)) as [ClaimedDelivery];
      assert.equal(retry.eventId, "evt_1");
      assert.equal(retry.attempt, 2);
      await finish(s, retry, "done");
      const [next] = (await s.store.claim(NOW + 60_000, 10)) as [ClaimedDelivery];
      assert.equal(next.eventId, "evt_2");
    });

    test("a delivery claimed again in the commit that recorded its retry still passes its key on when it ends", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      const [first] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      // A retry due at once, and a claim made in the same turn: on SQLite both share one commit.
      const recorded = finish(s, first, "pending", { nextAt: NOW, error: "HTTP 503" });
      let again = await s.store.claim(NOW, 10);
      await recorded;
      if (again.length === 0) again = await s.store.claim(NOW, 10); // a store that runs them apart (PostgreSQL)
      assert.deepEqual(
        again.map((d) => [d.eventId, d.attempt]),
        [["evt_1", 2]],
      );
      await finish(s, again[0] as ClaimedDelivery, "dead", { error: "HTTP 503" });
      assert.deepEqual(
        (await s.store.claim(NOW, 10)).map((d) => d.eventId),
        ["evt_2"],
        "the dead delivery released its key",
      );
    });

    test("an older event that arrives while a newer one runs waits for it (never two at once for a key)", async () => {
      const s = await subject();
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      const [newer] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      assert.deepEqual(await s.store.claim(NOW, 10), []);
      assert.equal(await s.store.nextDue(), null, "nothing the claim could take");
      await finish(s, newer, "done");
      const [older] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      assert.equal(older.eventId, "evt_1");
      assert.deepEqual(older.newer, { eventId: "evt_2", created: T + 2 }, "and it is reported stale");
    });

    test("an older event that arrived during a run goes first when that run ends in a retry", async () => {
      const s = await subject();
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      const [newer] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await finish(s, newer, "pending", { nextAt: NOW, error: "HTTP 503" });
      assert.deepEqual(
        (await s.store.claim(NOW, 10)).map((d) => d.eventId),
        ["evt_1"],
      );
    });

    test("after a crash, an older event that arrived during the interrupted run goes first", async () => {
      const s = await subject();
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      await s.store.claim(NOW, 10);
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      assert.equal(await s.store.recover(LATER), 1);
      assert.deepEqual(
        (await s.store.claim(LATER, 10)).map((d) => d.eventId),
        ["evt_1"],
      );
    });

    for (const end of ["dead", "failed"] as const) {
      test(`a blocker that ends ${end} releases its key: the next delivery runs`, async () => {
        const s = await subject();
        await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
        await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
        const [first] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
        await finish(s, first, end, { error: "gave up" });
        const [next] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
        assert.equal(next.eventId, "evt_2");
        assert.equal(next.newer, undefined, "an event that was not delivered makes nothing stale");
      });
    }

    test("the newest delivered event per key is kept and reported with strictly older deliveries only", async () => {
      const s = await subject();
      await ingest(s, "evt_paid", T + 10, ordered("sync", "in_1"));
      const [paid] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      await finish(s, paid, "done");
      assert.deepEqual(await s.store.newestDelivered("sync", "in_1"), { eventId: "evt_paid", created: T + 10 });
      assert.equal(await s.store.newestDelivered("other", "in_1"), null);
      await ingest(s, "evt_failed", T + 5, ordered("sync", "in_1"));
      const [old] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      assert.deepEqual(old.newer, { eventId: "evt_paid", created: T + 10 });
      assert.equal(old.replayed, false);
      await finish(s, old, "done");
      assert.deepEqual(
        await s.store.newestDelivered("sync", "in_1"),
        { eventId: "evt_paid", created: T + 10 },
        "an older event done later does not move the mark back",
      );
      await ingest(s, "evt_same", T + 10, ordered("sync", "in_1"));
      const [same] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      assert.equal(same.newer, undefined, "the same second is not older");
    });

    test("a replayed delivery is marked replayed, keeps its key's turn and takes the key given", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      for (let i = 0; i < 2; i++) await finish(s, ((await s.store.claim(NOW, 10)) as [ClaimedDelivery])[0], "done");
      const queued = await s.store.requeue(
        [
          { eventId: "evt_1", action: "sync", digest: "d", orderKey: "sub_1" },
          { eventId: "evt_1", action: "new", digest: "d", orderKey: "sub_1" },
        ],
        NOW,
      );
      assert.equal(queued, 2);
      const claimed = await s.store.claim(NOW, 10);
      assert.deepEqual(claimed.map((d) => [d.action, d.orderKey, d.replayed, d.newer?.eventId]).sort(), [
        ["new", "sub_1", true, undefined],
        ["sync", "sub_1", true, "evt_2"],
      ]);
    });

    test("recovered deliveries keep their order: a restart does not let a later one overtake", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      const [first] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      assert.equal(first.eventId, "evt_1");
      assert.equal(await s.store.recover(LATER), 1);
      const [again] = (await s.store.claim(LATER, 10)) as [ClaimedDelivery];
      assert.equal(again.eventId, "evt_1");
      assert.equal(again.attempt, 2);
    });

    test("released deliveries give the key back, to the oldest waiting", async () => {
      const s = await subject();
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      await ingest(s, "evt_3", T + 3, ordered("sync", "sub_1"));
      const [first] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      assert.equal(first.eventId, "evt_2");
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await s.store.release([first.id], NOW);
      const seen: string[] = [];
      for (let turn = 0; turn < 3; turn++) {
        const [d] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
        seen.push(`${d.eventId}#${d.attempt}`);
        await finish(s, d, "done");
      }
      assert.deepEqual(seen, ["evt_1#1", "evt_2#1", "evt_3#1"]);
    });

    test("a claim limited to a few takes each free key's head, and the limit counts keys, not held rows", async () => {
      const s = await subject();
      for (let i = 0; i < 5; i++) {
        for (let k = 0; k < 3; k++) await ingest(s, `evt_${k}_${i}`, T + i, ordered("sync", `key_${k}`));
      }
      const claimed = await s.store.claim(NOW, 10);
      assert.deepEqual(claimed.map((d) => d.eventId).sort(), ["evt_0_0", "evt_1_0", "evt_2_0"]);
    });
  });
}

function ordered(action: string, orderKey: string): NewDelivery {
  return { action, digest: `digest-${action}`, orderKey };
}

function plain(action: string): NewDelivery {
  return { action, digest: `digest-${action}` };
}

async function ingest(s: StoreSubject, id: string, created: number, ...deliveries: NewDelivery[]): Promise<void> {
  const event = incoming(id, {
    type: "customer.subscription.updated",
    created,
    body: new TextEncoder().encode(`{"id":"${id}","object":"event","created":${created}}`),
  });
  assert.equal((await s.store.ingest(event, deliveries)).status, "stored");
}

function finish(
  s: StoreSubject,
  d: ClaimedDelivery,
  status: AttemptRecord["status"],
  extra: Partial<AttemptRecord> = {},
): Promise<boolean> {
  return s.store.finish({ deliveryId: d.id, attempt: d.attempt, startedAt: NOW, finishedAt: NOW, status, ...extra });
}
