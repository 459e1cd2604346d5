/**
 * @module Store contract cases for changing a handler map and rotating secrets: backfill creates a delivery only
 * where the action never ran (once, however often it is asked), keeps `order:`, and marks its round; each event
 * keeps the label of the secret that verified it, counted per endpoint and label. Written with node:test.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { incoming, NOW } from "./factory.ts";
import { type OpenSubject, subjects } from "./store.ts";

export function storeBackfillContract(name: string, open: OpenSubject): void {
  describe(`Store contract (backfill, verifying secret): ${name}`, () => {
    const subject = subjects(open);

    test("backfill creates only missing deliveries, once, due when asked, marked with its round", async () => {
      const { store } = await subject();
      await store.ingest(incoming("evt_1", { created: 100 }), [{ action: "old", digest: "d" }]);
      await store.ingest(incoming("evt_2", { created: 200 }), [
        { action: "old", digest: "d" },
        { action: "new", digest: "d" },
      ]);
      const items = ["evt_1", "evt_2", "evt_missing"].map((eventId) => ({
        eventId,
        action: "new",
        digest: "n",
        dueAt: NOW + 5_000,
      }));
      assert.equal(await store.backfill(items, NOW + 1), 1, "evt_2 already has one; evt_missing is not stored");
      assert.equal(await store.backfill(items, NOW + 2), 0, "a second round creates nothing");
      const [made] = (await store.getEvent("evt_1"))?.deliveries.filter((d) => d.action === "new") ?? [];
      assert.equal(made?.status, "pending");
      assert.equal(made?.nextAt, NOW + 5_000);
      assert.equal(made?.backfilledAt, NOW + 1);
      const live = (await store.getEvent("evt_2"))?.deliveries.find((d) => d.action === "new");
      assert.equal(live?.backfilledAt, null);
      const early = (await store.claim(NOW + 4_999, 10)).filter((d) => d.eventId === "evt_1" && d.action === "new");
      assert.deepEqual(early, [], "not due before its time");
      assert.deepEqual(
        (await store.claim(NOW + 5_000, 10)).map((d) => [d.eventId, d.action]),
        [["evt_1", "new"]],
      );
    });

    test("a backfilled ordered delivery of an older event goes before a newer one of its key", async () => {
      const { store } = await subject();
      await store.ingest(incoming("evt_old", { created: 100 }), []);
      await store.ingest(incoming("evt_new", { created: 200 }), [{ action: "sync", digest: "d", orderKey: "cus_1" }]);
      await store.backfill([{ eventId: "evt_old", action: "sync", digest: "d", orderKey: "cus_1", dueAt: NOW }], NOW);
      const first = await store.claim(NOW + 1, 10);
      assert.deepEqual(
        first.map((d) => d.eventId),
        ["evt_old"],
      );
      const held = first[0];
      assert.ok(held);
      await store.finish({
        deliveryId: held.id,
        attempt: 1,
        startedAt: NOW,
        finishedAt: NOW + 2,
        status: "done",
        ...(held.token === undefined ? {} : { token: held.token }),
      });
      assert.deepEqual(
        (await store.claim(NOW + 3, 10)).map((d) => d.eventId),
        ["evt_new"],
      );
    });

    test("each event keeps the label of the secret that verified it, counted per endpoint and label", async () => {
      const { store } = await subject();
      await store.ingest(incoming("evt_a", { created: 1, verifiedBy: "current" }), []);
      await store.ingest(incoming("evt_b", { created: 1, verifiedBy: "previous", receivedAt: NOW + 10 }), []);
      await store.ingest(incoming("evt_c", { created: 1, verifiedBy: "current", receivedAt: NOW + 20 }), []);
      await store.ingest(incoming("evt_d", { created: 1, verifiedBy: "previous", receivedAt: NOW - 1_000 }), []);
      await store.ingest(incoming("evt_f", { created: 1, source: "fetched", endpoint: "stripe:/v1/events" }), []);
      assert.equal((await store.getEvent("evt_b"))?.verifiedBy, "previous");
      assert.equal((await store.getEvent("evt_f"))?.verifiedBy, null);
      assert.deepEqual((await store.listEvents({ search: "evt_a" }))[0]?.verifiedBy, "current");
      assert.deepEqual(await store.secretUse(NOW), [
        { endpoint: "/webhook", secret: "current", events: 2, lastAt: NOW + 20 },
        { endpoint: "/webhook", secret: "previous", events: 1, lastAt: NOW + 10 },
      ]);
    });
  });
}
