/**
 * @module Store contract cases for the operator page: keyset pages, search by event, object and customer id,
 * failure groups, failed deliveries and activity buckets. Written with node:test like store.ts, so every
 * implementation runs them.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { incoming } from "./factory.ts";
import { type OpenSubject, type StoreSubject, subjects } from "./store.ts";

const NOW = 1_760_000_040_000;
/** The type of every event here. */
const CHARGE = "charge.succeeded";
const MINUTE = 60_000;

/** Runs every due delivery once: those of `failing` end in `status` with `error`, the others done. */
async function settle(
  s: StoreSubject,
  failing: string,
  status: "failed" | "dead" | "pending",
  error: string,
  at = NOW,
): Promise<void> {
  for (const d of await s.store.claim(at, 1000)) {
    const fails = d.action === failing;
    await s.store.finish({
      deliveryId: d.id,
      attempt: d.attempt,
      startedAt: at,
      finishedAt: at + 1,
      status: fails ? status : "done",
      nextAt: fails && status === "pending" ? at + MINUTE : undefined,
      error: fails ? error : undefined,
    });
  }
}

export function storeUiContract(name: string, open: OpenSubject): void {
  describe(`Store contract (operator page): ${name}`, () => {
    const subject = subjects(open);

    test("keyset pages: each page continues after the last one, even when events arrive in between", async () => {
      const s = await subject();
      // Two events share a receive time: the id breaks the tie, so none is skipped or shown twice.
      for (const [id, at] of [
        ["evt_1", NOW - 4],
        ["evt_2", NOW - 3],
        ["evt_3a", NOW - 2],
        ["evt_3b", NOW - 2],
        ["evt_4", NOW - 1],
      ] as const) {
        await s.store.ingest(incoming(id, { type: CHARGE, receivedAt: at }), []);
      }
      const first = await s.store.listEvents({ limit: 2 });
      assert.deepEqual(
        first.map((e) => e.id),
        ["evt_4", "evt_3b"],
      );
      await s.store.ingest(incoming("evt_5", { type: CHARGE, receivedAt: NOW }), []);
      const last = first.at(-1);
      assert.ok(last);
      const second = await s.store.listEvents({ limit: 2, after: { receivedAt: last.receivedAt, id: last.id } });
      assert.deepEqual(
        second.map((e) => e.id),
        ["evt_3a", "evt_2"],
      );
      const third = await s.store.listEvents({ limit: 2, after: { receivedAt: NOW - 3, id: "evt_2" } });
      assert.deepEqual(
        third.map((e) => e.id),
        ["evt_1"],
      );
    });

    test("until bounds a time range from above", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_old", { type: CHARGE, receivedAt: NOW - 2 * MINUTE }), []);
      await s.store.ingest(incoming("evt_mid", { type: CHARGE, receivedAt: NOW - MINUTE }), []);
      await s.store.ingest(incoming("evt_new", { type: CHARGE, receivedAt: NOW }), []);
      assert.deepEqual(
        (await s.store.listEvents({ since: NOW - 2 * MINUTE, until: NOW })).map((e) => e.id),
        ["evt_mid", "evt_old"],
      );
    });

    test("search finds an event by its id, its object's id or its customer's id, and returns those ids", async () => {
      const s = await subject();
      await s.store.ingest(
        incoming("evt_a", { type: CHARGE, receivedAt: NOW - 2, objectId: "ch_1", customerId: "cus_1" }),
        [],
      );
      await s.store.ingest(
        incoming("evt_b", { type: CHARGE, receivedAt: NOW - 1, objectId: "ch_2", customerId: "cus_1" }),
        [],
      );
      await s.store.ingest(incoming("evt_c", { type: CHARGE, receivedAt: NOW, objectId: null, customerId: null }), []);
      const ids = async (search: string) => (await s.store.listEvents({ search })).map((e) => e.id);
      assert.deepEqual(await ids("evt_c"), ["evt_c"]);
      assert.deepEqual(await ids("ch_2"), ["evt_b"]);
      assert.deepEqual(await ids("cus_1"), ["evt_b", "evt_a"]);
      assert.deepEqual(await ids("cus_"), []);
      const [b] = await s.store.listEvents({ search: "ch_2" });
      assert.equal(b?.objectId, "ch_2");
      assert.equal(b?.customerId, "cus_1");
      const detail = await s.store.getEvent("evt_c");
      assert.equal(detail?.objectId, null);
      assert.equal(detail?.customerId, null);
    });

    test("failure groups: failed and dead deliveries by action and last error, largest first", async () => {
      const s = await subject();
      for (const id of ["evt_1", "evt_2", "evt_3"]) {
        await s.store.ingest(incoming(id, { type: CHARGE, receivedAt: NOW }), [
          { action: "mail", digest: "d" },
          { action: "ship", digest: "d" },
        ]);
      }
      await s.store.ingest(incoming("evt_4", { type: CHARGE, receivedAt: NOW }), [{ action: "ship", digest: "d" }]);
      await settle(s, "mail", "dead", "exit 1: smtp down");
      // The ship deliveries: one fails with another error, the rest succeed.
      await s.store.ingest(incoming("evt_5", { type: CHARGE, receivedAt: NOW + 1 }), [{ action: "ship", digest: "d" }]);
      await settle(s, "ship", "failed", "HTTP 500", NOW + 5);
      const groups = await s.store.failureGroups(10);
      assert.deepEqual(
        groups.map((g) => [g.action, g.error, g.failed, g.dead]),
        [
          ["mail", "exit 1: smtp down", 0, 3],
          ["ship", "HTTP 500", 1, 0],
        ],
      );
      assert.equal(groups[0]?.oldestAt, NOW + 1);
      assert.equal(groups[1]?.newestAt, NOW + 6);
      assert.equal((await s.store.failureGroups(1)).length, 1);

      const mail = await s.store.failedDeliveries({ action: "mail", error: "exit 1: smtp down" }, 10);
      assert.deepEqual(mail.map((d) => [d.eventId, d.action, d.status, d.eventType]).sort(), [
        ["evt_1", "mail", "dead", "charge.succeeded"],
        ["evt_2", "mail", "dead", "charge.succeeded"],
        ["evt_3", "mail", "dead", "charge.succeeded"],
      ]);
      assert.equal((await s.store.failedDeliveries({ action: "mail", error: "other" }, 10)).length, 0);
      assert.equal((await s.store.failedDeliveries(null, 10)).length, 4);
      assert.equal((await s.store.failedDeliveries(null, 2)).length, 2);
    });

    test("failure groups keep deliveries without an error apart, and failedDeliveries finds them", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_1", { type: CHARGE, receivedAt: NOW }), [{ action: "x", digest: "d" }]);
      const [d] = await s.store.claim(NOW, 10);
      assert.ok(d);
      await s.store.finish({ deliveryId: d.id, attempt: 1, startedAt: NOW, finishedAt: NOW, status: "dead" });
      const groups = await s.store.failureGroups(10);
      assert.deepEqual(
        groups.map((g) => [g.action, g.error, g.dead]),
        [["x", null, 1]],
      );
      assert.deepEqual(
        (await s.store.failedDeliveries({ action: "x", error: null }, 10)).map((f) => f.eventId),
        ["evt_1"],
      );
    });

    test("activity: events and unsuccessful attempts per bucket since a time, empty buckets left out", async () => {
      const s = await subject();
      const start = NOW - (NOW % MINUTE);
      await s.store.ingest(incoming("evt_old", { type: CHARGE, receivedAt: start - 10 * MINUTE }), []);
      await s.store.ingest(incoming("evt_1", { type: CHARGE, receivedAt: start + 1000 }), [
        { action: "a", digest: "d" },
      ]);
      await s.store.ingest(incoming("evt_2", { type: CHARGE, receivedAt: start + 2000 }), [
        { action: "a", digest: "d" },
      ]);
      await s.store.ingest(incoming("evt_3", { type: CHARGE, receivedAt: start + 2 * MINUTE }), [
        { action: "b", digest: "d" },
      ]);
      // Both "a" attempts fail (to be retried) in the second minute; "b" is not due yet.
      await settle(s, "a", "pending", "HTTP 503", start + MINUTE + 5);
      const buckets = await s.store.activity(start, MINUTE);
      assert.deepEqual(buckets, [
        { at: start, events: 2, failures: 0 },
        { at: start + MINUTE, events: 0, failures: 2 },
        { at: start + 2 * MINUTE, events: 1, failures: 0 },
      ]);
    });
  });
}
