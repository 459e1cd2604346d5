/**
 * @module The operator page's store queries on 100,000 events (`bun scripts/bench/pages.ts`): the first page, a
 * page 50,000 events deep (keyset), search by customer, a status filter, failure groups and a day of activity.
 * Prints the median of 20 runs of each; the store is a temporary SQLite file filled through the Store itself.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { openSqliteStore } from "../../src/store/sqlite/store.ts";
import type { EventQuery } from "../../src/store/types.ts";

const EVENTS = 100_000;
const RUNS = 20;
const dir = mkdtempSync(join(tmpdir(), "payhook-bench-pages-"));
const store = openSqliteStore(bunRuntime.openDatabase(join(dir, "bench.db")));
const start = Date.now() - EVENTS * 1000;
try {
  for (let batch = 0; batch < EVENTS; batch += 1000) {
    const writes = [];
    for (let i = batch; i < batch + 1000; i++) {
      const id = `evt_${String(i).padStart(8, "0")}`;
      writes.push(
        store.ingest(
          {
            id,
            type: i % 3 === 0 ? "invoice.paid" : "payment_intent.succeeded",
            object: "event",
            livemode: false,
            account: null,
            apiVersion: null,
            created: Math.floor((start + i * 1000) / 1000),
            receivedAt: start + i * 1000,
            endpoint: "/webhook",
            body: new TextEncoder().encode(
              `{"id":"${id}","data":{"object":{"id":"pi_${i}","customer":"cus_${i % 5000}"}}}`,
            ),
            objectId: `pi_${i}`,
            customerId: `cus_${i % 5000}`,
          },
          [{ action: "notify", digest: "d" }],
        ),
      );
    }
    await Promise.all(writes);
  }
  // One delivery in 100 fails for good, the rest succeed.
  for (
    let claimed = await store.claim(Date.now(), 5000);
    claimed.length > 0;
    claimed = await store.claim(Date.now(), 5000)
  ) {
    await Promise.all(
      claimed.map((d) =>
        store.finish({
          deliveryId: d.id,
          attempt: d.attempt,
          startedAt: Date.now(),
          finishedAt: Date.now(),
          status: d.id % 100 === 0 ? "dead" : "done",
          error: d.id % 100 === 0 ? `HTTP ${500 + (d.id % 3)}` : undefined,
        }),
      ),
    );
  }
  const deep = (await store.listEvents({ limit: 50_000 })).at(-1);
  const cases: [string, () => Promise<unknown>][] = [
    ["first page (51 events)", () => store.listEvents({ limit: 51 })],
    [
      "page 50,000 deep (keyset)",
      () => store.listEvents({ limit: 51, after: deep && { receivedAt: deep.receivedAt, id: deep.id } }),
    ],
    ["search by customer id", () => store.listEvents({ limit: 51, search: "cus_4242" })],
    ["search by event id", () => store.listEvents({ limit: 51, search: "evt_00042424" })],
    ["type prefix invoice.*", () => store.listEvents({ limit: 51, type: "invoice.*" } as EventQuery)],
    ["status dead (1 %)", () => store.listEvents({ limit: 51, status: "dead" })],
    ["failure groups", () => store.failureGroups(200)],
    ["activity, last day per minute", () => store.activity(Date.now() - 86_400_000, 60_000)],
  ];
  console.log(`${EVENTS} events, median of ${RUNS} runs:`);
  for (const [name, run] of cases) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await run();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(`  ${name.padEnd(32)} ${(times[RUNS >> 1] ?? 0).toFixed(2)} ms`);
  }
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
