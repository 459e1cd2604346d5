/**
 * @module Store contract cases for API-version upgrades and Connect: copies kept apart from the live events
 * (deduplicated per endpoint, found unmatched or paired with their live event), the upgrade marker, and events
 * filtered and searched by connected account. Written with node:test like store.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { IncomingEvent, Upgrade } from "../../src/store/types.ts";
import { type OpenSubject, subjects } from "./store.ts";

const NOW = 1_760_000_000_000;

function incoming(id: string, endpoint: string, extra: Partial<IncomingEvent> = {}): IncomingEvent {
  return {
    id,
    type: "invoice.paid",
    object: "event",
    livemode: false,
    account: null,
    apiVersion: endpoint.endsWith("/shadow") ? "2026-10-28.endive" : "2025-02-24.acacia",
    created: Math.floor(NOW / 1000),
    receivedAt: NOW,
    endpoint,
    body: new TextEncoder().encode(`{"id":"${id}","at":"${endpoint}"}`),
    ...extra,
  };
}

export function storeCopiesContract(name: string, open: OpenSubject): void {
  describe(`Store contract (upgrade copies, accounts): ${name}`, () => {
    const subject = subjects(open);

    test("copies are kept apart per endpoint, and found unmatched or paired with the live event", async () => {
      const { store } = await subject();
      await store.ingest(incoming("evt_both", "/webhook"), [{ action: "a", digest: "d" }]);
      assert.equal(await store.ingestCopy(incoming("evt_both", "/webhook/shadow", { verifiedBy: "new" })), "stored");
      assert.equal(await store.ingestCopy(incoming("evt_both", "/webhook/shadow")), "duplicate");
      assert.equal(await store.ingestCopy(incoming("evt_only", "/webhook/shadow", { receivedAt: NOW + 1 })), "stored");
      // A copy never shows as a live event.
      assert.deepEqual(
        (await store.listEvents({})).map((e) => e.id),
        ["evt_both"],
      );
      const unmatched = await store.copies({ endpoint: "/webhook/shadow", unmatched: true, limit: 10 });
      assert.deepEqual(
        unmatched.map((c) => c.copy.id),
        ["evt_only"],
      );
      const paired = await store.copies({ endpoint: "/webhook/shadow", pairedWith: "/webhook", limit: 10 });
      assert.equal(paired.length, 1);
      assert.equal(paired[0]?.copy.apiVersion, "2026-10-28.endive");
      assert.equal(paired[0]?.copy.verifiedBy, "new");
      assert.equal(paired[0]?.live?.apiVersion, "2025-02-24.acacia");
      assert.equal(new TextDecoder().decode(paired[0]?.live?.body), '{"id":"evt_both","at":"/webhook"}');
      assert.deepEqual(await store.copies({ endpoint: "/webhook/shadow", since: NOW + 2, limit: 10 }), []);
    });

    test("an upgrade is recorded, and its cutover marker replaces it", async () => {
      const { store } = await subject();
      const upgrade: Upgrade = {
        shadowPath: "/webhook/shadow",
        livePath: "/webhook",
        apiVersion: "2026-10-28.endive",
        oldEndpoint: "we_old",
        newEndpoint: "we_new",
        since: Math.floor(NOW / 1000),
        startedAt: NOW,
        cutOverAt: null,
      };
      await store.saveUpgrade(upgrade);
      assert.deepEqual(await store.upgrades(), [upgrade]);
      await store.saveUpgrade({ ...upgrade, cutOverAt: NOW + 5 });
      assert.deepEqual(await store.upgrades(), [{ ...upgrade, cutOverAt: NOW + 5 }]);
    });

    test("events are filtered and searched by connected account", async () => {
      const { store } = await subject();
      await store.ingest(incoming("evt_a", "/webhook", { account: "acct_A" }), []);
      await store.ingest(incoming("evt_b", "/webhook", { account: "acct_B", receivedAt: NOW + 1 }), []);
      await store.ingest(incoming("evt_p", "/webhook", { receivedAt: NOW + 2 }), []);
      assert.deepEqual(
        (await store.listEvents({ account: "acct_A" })).map((e) => e.id),
        ["evt_a"],
      );
      assert.deepEqual(
        (await store.listEvents({ search: "acct_B" })).map((e) => e.id),
        ["evt_b"],
      );
    });
  });
}
