/**
 * @module Store contract cases for inspection, replay, pruning and per-action claim limits (`payhook events`,
 * retention, exec concurrency). Written with node:test like store.ts, so any implementation can run them.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { incoming, NOW } from "./factory.ts";
import { type OpenSubject, type StoreSubject, subjects } from "./store.ts";

const DAY = 86_400_000;

export function storeInspectContract(name: string, open: OpenSubject): void {
  describe(`Store contract (inspect, replay, prune): ${name}`, () => {
    const subject = subjects(open);

    /** Runs every due delivery of `action` once to the given status. */
    async function settle(s: StoreSubject, action: string, status: "done" | "failed" | "dead", at = NOW) {
      for (const d of await s.store.claim(at, 100)) {
        const final = d.action === action ? status : "done";
        await s.store.finish({
          deliveryId: d.id,
          attempt: d.attempt,
          startedAt: at,
          finishedAt: at + 1,
          status: final,
          error: final === "done" ? undefined : `${d.action} broke`,
          output: "out",
        });
      }
    }

    test("listEvents: newest first, filtered by status, type pattern and time, limited", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_a", { type: "invoice.paid", receivedAt: NOW - 3 * DAY }), [
        { action: "x", digest: "d" },
      ]);
      await s.store.ingest(incoming("evt_b", { type: "invoice.created", receivedAt: NOW - 2 * DAY }), [
        { action: "y", digest: "d" },
      ]);
      await s.store.ingest(incoming("evt_c", { type: "charge.succeeded", receivedAt: NOW - DAY }), []);
      await settle(s, "y", "dead");
      assert.deepEqual(
        (await s.store.listEvents({})).map((e) => e.id),
        ["evt_c", "evt_b", "evt_a"],
      );
      assert.deepEqual(
        (await s.store.listEvents({ type: "invoice.*" })).map((e) => e.id),
        ["evt_b", "evt_a"],
      );
      assert.deepEqual(
        (await s.store.listEvents({ type: "invoice.paid" })).map((e) => e.id),
        ["evt_a"],
      );
      assert.deepEqual(
        (await s.store.listEvents({ status: "dead" })).map((e) => e.id),
        ["evt_b"],
      );
      assert.deepEqual(
        (await s.store.listEvents({ since: NOW - 2 * DAY })).map((e) => e.id),
        ["evt_c", "evt_b"],
      );
      assert.deepEqual(
        (await s.store.listEvents({ limit: 1 })).map((e) => e.id),
        ["evt_c"],
      );
      const [b] = await s.store.listEvents({ status: "dead" });
      assert.equal(b?.deliveries[0]?.status, "dead");
      assert.equal(b?.deliveries[0]?.lastError, "y broke");
    });

    test("getEvent: the exact body and every attempt in order; null for an unknown id", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_a", { type: "invoice.paid", receivedAt: NOW }), [
        { action: "x", digest: "d" },
      ]);
      await settle(s, "x", "dead");
      const event = await s.store.getEvent("evt_a");
      assert.equal(new TextDecoder().decode(event?.body), '{"id":"evt_a"}');
      assert.deepEqual(
        event?.deliveries[0]?.history.map((a) => [a.attempt, a.status, a.error, a.output]),
        [[1, "dead", "x broke", "out"]],
      );
      assert.equal(await s.store.getEvent("evt_missing"), null);
    });

    test("requeue resets finished deliveries, creates missing ones, and leaves pending ones alone", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_a", { type: "invoice.paid", receivedAt: NOW }), [
        { action: "x", digest: "d1" },
        { action: "y", digest: "d1" },
      ]);
      await settle(s, "x", "dead");
      const items = ["x", "y", "new"].map((action) => ({ eventId: "evt_a", action, digest: "d2" }));
      // Only dead ones with a status filter, and nothing is created then.
      assert.equal(await s.store.requeue(items, NOW + 10, "dead"), 1);
      const after = (await s.store.getEvent("evt_a"))?.deliveries ?? [];
      assert.deepEqual(
        after.map((d) => [d.action, d.status, d.attempts, d.digest]),
        [
          ["x", "pending", 0, "d2"],
          ["y", "done", 1, "d1"],
        ],
      );
      // Without a filter: y (done) is reset, "new" created, x (already pending) left alone.
      assert.equal(await s.store.requeue(items, NOW + 20), 2);
      const claimed = await s.store.claim(NOW + 20, 10);
      assert.deepEqual(claimed.map((d) => [d.action, d.attempt]).sort(), [
        ["new", 1],
        ["x", 1],
        ["y", 1],
      ]);
      // An event that is not stored gets nothing.
      assert.equal(await s.store.requeue([{ eventId: "evt_none", action: "x", digest: "d" }], NOW), 0);
    });

    test("prune deletes old events whose deliveries are all finished, with their attempts", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_old_done", { type: "a.b", receivedAt: NOW - 40 * DAY }), [
        { action: "x", digest: "d" },
      ]);
      await s.store.ingest(incoming("evt_old_pending", { type: "a.b", receivedAt: NOW - 40 * DAY }), [
        { action: "p", digest: "d" },
      ]);
      await s.store.ingest(incoming("evt_new", { type: "a.b", receivedAt: NOW - DAY }), [
        { action: "x2", digest: "d" },
      ]);
      for (const d of await s.store.claim(NOW, 100)) {
        const pending = d.action === "p";
        await s.store.finish({
          deliveryId: d.id,
          attempt: d.attempt,
          startedAt: NOW,
          finishedAt: NOW,
          status: pending ? "pending" : "done",
          ...(pending ? { nextAt: NOW + DAY } : {}),
        });
      }
      assert.equal(await s.store.prune(NOW - 30 * DAY, 100), 1);
      assert.deepEqual((await s.store.listEvents({})).map((e) => e.id).sort(), ["evt_new", "evt_old_pending"]);
      // Three attempts were recorded; the pruned event's went with it.
      assert.equal(Number((await s.query("SELECT COUNT(*) AS n FROM attempts"))[0]?.n), 2);
      assert.equal(
        Number((await s.query("SELECT COUNT(*) AS n FROM deliveries WHERE event_id = 'evt_old_done'"))[0]?.n),
        0,
      );
    });

    test("prune deletes incidents resolved before the retention and finished notifications, never open or unsent ones", async () => {
      const s = await subject();
      const at = (days: number) => NOW - days * DAY;
      const condition = (key: string) => ({ key, rule: "dead", summary: `${key} went dead`, details: "", count: 1 });
      const report = (...keys: string[]) => ({
        scope: ["dead:"],
        open: keys.map(condition),
        channels: ["ops"],
        renotifyMs: 100 * DAY,
      });
      /** Claims what is due at `when` and ends each notification as `end` says (none: left in flight). */
      async function send(when: number, end: (key: string) => "sent" | "dropped" | "none", leaseMs = 60_000) {
        for (const n of await s.store.claimNotifications(when, 10, leaseMs)) {
          const status = end(n.body.summary.split(" ")[0] as string);
          if (status !== "none") await s.store.finishNotification({ id: n.id, attempt: n.attempt, status }, when);
        }
      }
      await s.store.recordIncidents(report("dead:a", "dead:b", "dead:c"), at(40));
      await send(at(40), (key) => (key === "dead:c" ? "dropped" : "sent"));
      // a and b resolve 35 days ago: a's resolve is sent, b's is still in flight (leased, unsent).
      await s.store.recordIncidents(report("dead:c"), at(35));
      await send(at(35), (key) => (key === "dead:a" ? "sent" : "none"), 100 * DAY);
      // d opens and resolves within the retention, both sent.
      await s.store.recordIncidents(report("dead:c", "dead:d"), at(2));
      await s.store.recordIncidents(report("dead:c"), at(1));
      await send(at(1), () => "sent");
      await send(at(1), () => "sent");

      await s.store.prune(at(30), 100);
      assert.deepEqual((await s.store.incidents({ limit: 10 })).map((i) => i.key).sort(), [
        "dead:b",
        "dead:c",
        "dead:d",
      ]);
      const left = await s.query("SELECT status, COUNT(*) AS n FROM notifications GROUP BY status ORDER BY status");
      assert.deepEqual(
        left.map((r) => [r.status, Number(r.n)]),
        [
          ["pending", 1],
          ["sent", 2],
        ],
        "b's unsent resolve and d's two are kept; the rest (sent or given up 35-40 days ago) are gone",
      );
    });

    test("claim and nextDue take only the deliveries the instance can run: its versions, then its action names", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_a", { type: "a.b", receivedAt: NOW }), [
        { action: "mine", digest: "d1" },
        { action: "gone", digest: "d1" },
      ]);
      const runnable = {
        versions: [
          ["mine", "d1"],
          ["old", "d0"],
        ] as [string, string][],
        names: [],
      };
      assert.deepEqual(
        (await s.store.claim(NOW, 10, [], runnable)).map((d) => d.action),
        ["mine"],
      );
      assert.equal(await s.store.nextDue(runnable), null, "what it cannot run is never due for it");
      const other = { versions: [["old", "d0"]] as [string, string][], names: ["other"] };
      assert.deepEqual(await s.store.claim(NOW + DAY, 10, [], other), []);
      const gone = (await s.store.getEvent("evt_a"))?.deliveries.find((d) => d.action === "gone");
      assert.deepEqual([gone?.status, gone?.attempts], ["pending", 0], "left pending, its attempt unused");
      assert.equal(await s.store.nextDue(), NOW);
    });

    test("a NUL in a search, type, cursor, id or failure group (typed or forged on the page) matches nothing, never an error", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_a", { type: "a.b", receivedAt: NOW }), [{ action: "x", digest: "d" }]);
      assert.deepEqual(await s.store.listEvents({ search: "evt_a\u0000" }), []);
      assert.deepEqual(await s.store.listEvents({ type: "a.b\u0000" }), []);
      const page = await s.store.listEvents({ after: { receivedAt: NOW + 1, id: "\u0000" } });
      assert.ok(page.every((e) => e.id !== "\u0000"));
      assert.equal(await s.store.getEvent("evt_a\u0000"), null);
      assert.deepEqual(await s.store.failedDeliveries({ action: "x\u0000", error: "\u0000" }, 10), []);
      assert.equal(await s.store.requeue([{ eventId: "evt_a\u0000", action: "x", digest: "d" }], NOW), 0);
    });

    test("claim skips the actions it is told to (those at their concurrency limit)", async () => {
      const s = await subject();
      await s.store.ingest(incoming("evt_a", { type: "a.b", receivedAt: NOW }), [
        { action: "busy", digest: "d" },
        { action: "free", digest: "d" },
      ]);
      const claimed = await s.store.claim(NOW, 10, ["busy"]);
      assert.deepEqual(
        claimed.map((d) => d.action),
        ["free"],
      );
      assert.deepEqual(
        (await s.store.claim(NOW, 10)).map((d) => d.action),
        ["busy"],
      );
    });
  });
}
