/**
 * @module The Store contract for operator control: pause and resume, the breaker's count, open, probe and close,
 * retry now (pending keep their attempts, failed and dead get a fresh round, order keys keep their queue), discard, the
 * numbers `payhook status` shows, and the audit trail. node:test, so `bun test` and `deno test` both run it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ClaimedDelivery, IncomingEvent, NewDelivery } from "../../src/store/types.ts";
import { type OpenSubject, type StoreSubject, subjects } from "./store.ts";

const NOW = 1_760_000_000_000;
const T = Math.floor(NOW / 1000);
const HOUR = 3_600_000;
const BREAKER = { failures: 3, probeMs: 30_000 };

export function storeControlContract(name: string, open: OpenSubject): void {
  describe(`Store contract, operator control: ${name}`, () => {
    const subject = subjects(open);

    test("a pause is stored with who and why; resume clears it, and says whether anything changed", async () => {
      const s = await subject();
      assert.deepEqual(await s.store.controls(), []);
      assert.equal(await s.store.setPaused("crm", { by: "ana", reason: "crm down" }, NOW), true);
      assert.equal(await s.store.setPaused("crm", { by: "bo" }, NOW + 1), false, "already paused");
      assert.deepEqual(await s.store.controls(), [
        { action: "crm", paused: { at: NOW, by: "ana", reason: "crm down" }, failures: 0, breaker: null },
      ]);
      assert.equal(await s.store.setPaused("crm", null, NOW + 2), true);
      assert.equal(await s.store.setPaused("crm", null, NOW + 3), false);
      assert.deepEqual(await s.store.controls(), []);
    });

    test("the breaker opens at the threshold-th consecutive failure; a success closes it", async () => {
      const s = await subject();
      assert.deepEqual(await s.store.noteOutcome("crm", false, BREAKER, NOW), {
        change: null,
        failures: 1,
        open: false,
      });
      assert.equal((await s.store.noteOutcome("crm", true, BREAKER, NOW)).failures, 0, "a success resets the count");
      for (const n of [1, 2]) assert.equal((await s.store.noteOutcome("crm", false, BREAKER, NOW)).failures, n);
      assert.deepEqual(await s.store.noteOutcome("crm", false, BREAKER, NOW), {
        change: "opened",
        failures: 3,
        open: true,
      });
      assert.deepEqual(await s.store.noteOutcome("crm", false, BREAKER, NOW + 1), {
        change: null,
        failures: 4,
        open: true,
      });
      const [c] = await s.store.controls();
      assert.deepEqual(c?.breaker, { openedAt: NOW, probeAt: NOW + BREAKER.probeMs });
      assert.equal(await s.store.takeProbe("crm", NOW + 1, BREAKER.probeMs), false, "no probe before the interval");
      assert.equal(await s.store.takeProbe("crm", NOW + BREAKER.probeMs, BREAKER.probeMs), true);
      assert.equal(await s.store.takeProbe("crm", NOW + BREAKER.probeMs, BREAKER.probeMs), false, "one per interval");
      assert.deepEqual(await s.store.noteOutcome("crm", true, BREAKER, NOW + 40_000), {
        change: "closed",
        failures: 0,
        open: false,
      });
      assert.deepEqual(await s.store.controls(), []);
    });

    test("resume closes an open breaker by hand", async () => {
      const s = await subject();
      await s.store.noteOutcome("crm", false, { failures: 1, probeMs: 1000 }, NOW);
      assert.equal((await s.store.controls())[0]?.breaker?.openedAt, NOW);
      assert.equal(await s.store.setPaused("crm", null, NOW), true);
      assert.deepEqual(await s.store.controls(), []);
    });

    test("nextDue leaves out the actions the worker holds", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T, plain("crm"));
      assert.equal(await s.store.nextDue(undefined, NOW, ["crm"]), null);
      assert.equal(await s.store.nextDue(undefined, NOW, ["other"]), NOW);
    });

    test("retry now: pending keep their attempts, failed and dead start a fresh round, running and done stay", async () => {
      const s = await subject();
      for (const id of ["evt_p", "evt_f", "evt_d", "evt_r", "evt_ok"]) await ingest(s, id, T, plain("crm"));
      const claimed = await s.store.claim(NOW, 10);
      const by = (id: string) => claimed.find((d) => d.eventId === id) as ClaimedDelivery;
      await finish(s, by("evt_p"), "pending", NOW + 10 * HOUR);
      await finish(s, by("evt_f"), "failed");
      await finish(s, by("evt_d"), "dead");
      await finish(s, by("evt_ok"), "done");
      const later = NOW + 1000;
      assert.deepEqual(await s.store.retryNow({ action: "crm", statuses: ["pending", "failed"] }, later), {
        moved: 2,
        left: { running: 1, done: 1, ordered: 0, unchosen: 1 },
      });
      const again = await s.store.claim(later, 10);
      assert.deepEqual(again.map((d) => [d.eventId, d.attempt]).sort(), [
        ["evt_f", 1],
        ["evt_p", 2],
      ]);
      assert.deepEqual(await s.store.retryNow({ eventIds: ["evt_d"], statuses: ["dead"] }, later), {
        moved: 1,
        left: { running: 0, done: 0, ordered: 0, unchosen: 0 },
      });
      assert.deepEqual(
        (await s.store.claim(later, 10)).map((d) => [d.eventId, d.attempt]),
        [["evt_d", 1]],
      );
      assert.equal((await s.store.retryNow({ action: "other", statuses: ["pending"] }, later)).moved, 0);
    });

    test("retry now never jumps an order key's queue", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T + 1, ordered("sync", "sub_1"));
      await ingest(s, "evt_2", T + 2, ordered("sync", "sub_1"));
      const [first] = (await s.store.claim(NOW, 10)) as [ClaimedDelivery];
      assert.equal(first.eventId, "evt_1");
      await finish(s, first, "pending", NOW + 10 * HOUR);
      const result = await s.store.retryNow({ action: "sync", statuses: ["pending"] }, NOW + 1);
      assert.deepEqual(result, { moved: 1, left: { running: 0, done: 0, ordered: 1, unchosen: 0 } });
      const claimed = await s.store.claim(NOW + 1, 10);
      assert.deepEqual(
        claimed.map((d) => d.eventId),
        ["evt_1"],
        "the key's oldest runs first",
      );
    });

    test("discard: the chosen statuses become discarded for good; running ones and other statuses stay", async () => {
      const s = await subject();
      for (const id of ["evt_p", "evt_f", "evt_d", "evt_r", "evt_ok"]) await ingest(s, id, T, plain("old"));
      await ingest(s, "evt_keep", T, plain("crm"));
      const claimed = await s.store.claim(NOW, 10);
      const by = (id: string) => claimed.find((d) => d.eventId === id) as ClaimedDelivery;
      await finish(s, by("evt_p"), "pending", NOW + 10 * HOUR);
      await finish(s, by("evt_f"), "failed");
      await finish(s, by("evt_d"), "dead");
      await finish(s, by("evt_ok"), "done");
      await finish(s, by("evt_keep"), "failed");
      await ingest(s, "evt_new", T, plain("old")); // never claimed
      const later = NOW + 1000;
      assert.deepEqual(await s.store.discard({ action: "old", statuses: ["pending", "failed"] }, later), {
        discarded: 3,
        left: { running: 1, unchosen: 1 },
      });
      const shown = async (id: string) => (await s.store.getEvent(id))?.deliveries[0]?.status;
      assert.deepEqual(
        await Promise.all(["evt_p", "evt_f", "evt_new", "evt_d", "evt_r", "evt_ok", "evt_keep"].map(shown)),
        ["discarded", "discarded", "discarded", "dead", "running", "done", "failed"],
      );
      assert.deepEqual(await s.store.discard({ action: "old", statuses: ["pending", "failed", "dead"] }, later), {
        discarded: 1,
        left: { running: 1, unchosen: 0 },
      });
      // Past every next attempt: only the running one, its lease run out, may be taken over (PostgreSQL).
      assert.deepEqual(
        (await s.store.claim(later + 20 * HOUR, 10)).map((d) => d.eventId).filter((id) => id !== "evt_r"),
        [],
        "a discarded delivery is never claimed",
      );
      assert.deepEqual(
        await s.store.retryNow({ action: "old", statuses: ["pending", "failed", "dead"] }, later),
        { moved: 0, left: { running: 1, done: 1, ordered: 0, unchosen: 0 } },
        "nor retried",
      );
      assert.equal(
        await s.store.requeue([{ eventId: "evt_f", action: "old", digest: "digest-old" }], later),
        0,
        "nor replayed",
      );
      assert.deepEqual(
        (await s.store.actionStats()).map((a) => [a.action, a.byStatus]),
        [
          ["crm", { failed: 1 }],
          ["old", { running: 1 }],
        ],
        "status and the page no longer count them",
      );
      assert.equal((await s.store.queueStats()).byStatus.pending ?? 0, 0);
      assert.equal(
        (await s.store.listEvents({ status: "discarded", limit: 10 })).length,
        4,
        "events list finds them by status",
      );
    });

    test("refund gives an attempt back", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T, plain("crm"));
      const [d] = (await s.store.claim(NOW, 1)) as [ClaimedDelivery];
      await finish(s, d, "pending", NOW + 1);
      await s.store.refund(d.id);
      const [again] = (await s.store.claim(NOW + 1, 1)) as [ClaimedDelivery];
      assert.equal(again.attempt, 1, "the given-back attempt is counted again");
    });

    test("status numbers: per action by status with the oldest pending, events by endpoint", async () => {
      const s = await subject();
      await ingest(s, "evt_1", T, plain("crm"), plain("mail"));
      await ingest(s, "evt_2", T, plain("crm"));
      const stats = await s.store.actionStats();
      assert.deepEqual(stats, [
        { action: "crm", byStatus: { pending: 2 }, oldestPendingAt: NOW },
        { action: "mail", byStatus: { pending: 1 }, oldestPendingAt: NOW },
      ]);
      assert.deepEqual(await s.store.endpointCounts(NOW), [{ endpoint: "/webhook", events: 2 }]);
      assert.deepEqual(await s.store.endpointCounts(NOW + 1), []);
      assert.ok(Array.isArray(await s.store.leaseHolders(NOW)));
    });

    test("the audit trail keeps every act, newest first", async () => {
      const s = await subject();
      await s.store.audit({ at: NOW, who: "ana", act: "pause", target: "crm", count: 0 });
      await s.store.audit({ at: NOW + 1, who: "bo", act: "retry", target: "action crm", count: 12 });
      assert.deepEqual(await s.store.auditTrail(10), [
        { at: NOW + 1, who: "bo", act: "retry", target: "action crm", count: 12 },
        { at: NOW, who: "ana", act: "pause", target: "crm", count: 0 },
      ]);
      assert.equal((await s.store.auditTrail(1)).length, 1);
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
  const event: IncomingEvent = {
    id,
    type: "customer.updated",
    object: "event",
    livemode: false,
    account: null,
    apiVersion: null,
    created,
    receivedAt: NOW,
    endpoint: "/webhook",
    body: new TextEncoder().encode(`{"id":"${id}","object":"event","created":${created}}`),
  };
  assert.equal((await s.store.ingest(event, deliveries)).status, "stored");
}

async function finish(
  s: StoreSubject,
  d: ClaimedDelivery,
  status: "pending" | "failed" | "dead" | "done",
  nextAt?: number,
): Promise<void> {
  const applied = await s.store.finish({
    deliveryId: d.id,
    attempt: d.attempt,
    startedAt: NOW,
    finishedAt: NOW,
    status,
    ...(nextAt === undefined ? {} : { nextAt }),
    ...(status === "done" ? {} : { error: "HTTP 503" }),
    ...(d.token === undefined ? {} : { token: d.token }),
  });
  assert.equal(applied, true);
}
