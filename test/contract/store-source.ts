/**
 * @module Store contract cases for catch-up: where an event came from (pushed or fetched) survives the store and
 * filters listings, and a lease is held by one holder at a time. Written with node:test like store.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { IncomingEvent } from "../../src/store/types.ts";
import { incoming, NOW } from "./factory.ts";
import { type OpenSubject, subjects } from "./store.ts";

/** An event catch-up fetched from Stripe's API rather than one Stripe pushed. */
const FETCHED: Partial<IncomingEvent> = { source: "fetched", endpoint: "stripe:/v1/events" };

export function storeSourceContract(name: string, open: OpenSubject): void {
  describe(`Store contract (catch-up: source, leases): ${name}`, () => {
    const subject = subjects(open);

    test("an event keeps where it came from; pushed is the default; listings filter on it", async () => {
      const { store } = await subject();
      await store.ingest(incoming("evt_pushed"), [{ action: "a", digest: "d" }]);
      await store.ingest(incoming("evt_fetched", FETCHED), [{ action: "a", digest: "d" }]);
      // The same id fetched again after Stripe pushed it is a duplicate, and stays "pushed".
      assert.equal(
        (await store.ingest(incoming("evt_pushed", FETCHED), [{ action: "a", digest: "d" }])).status,
        "duplicate",
      );
      assert.equal((await store.getEvent("evt_pushed"))?.source, "pushed");
      assert.equal((await store.getEvent("evt_fetched"))?.source, "fetched");
      assert.deepEqual(
        (await store.listEvents({ source: "fetched" })).map((e) => e.id),
        ["evt_fetched"],
      );
      assert.deepEqual(
        (await store.listEvents({ source: "pushed" })).map((e) => e.id),
        ["evt_pushed"],
      );
    });

    test("a lease is held by one holder until it expires or is released, and its holder renews it", async () => {
      const { store } = await subject();
      assert.equal(await store.acquireLease("catch-up", "a", 1000, NOW), true);
      assert.equal(await store.acquireLease("catch-up", "b", 1000, NOW + 500), false);
      assert.equal(await store.acquireLease("catch-up", "a", 1000, NOW + 900), true, "the holder renews");
      assert.equal(await store.acquireLease("catch-up", "b", 1000, NOW + 1500), false, "renewed until NOW + 1900");
      assert.equal(await store.acquireLease("other", "b", 1000, NOW), true, "leases are independent");
      assert.equal(await store.acquireLease("catch-up", "b", 1000, NOW + 1900), true, "expired: taken over");
      await store.releaseLease("catch-up", "a"); // no longer a's: nothing happens
      assert.equal(await store.acquireLease("catch-up", "a", 1000, NOW + 2000), false);
      await store.releaseLease("catch-up", "b");
      assert.equal(await store.acquireLease("catch-up", "a", 1000, NOW + 2000), true);
    });

    test("of many holders racing for a free lease, exactly one gets it", async () => {
      const { store } = await subject();
      const won = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.acquireLease("race", `h${i}`, 1000, NOW)),
      );
      assert.equal(won.filter(Boolean).length, 1);
    });
  });
}
