/** The worker against a real SQLite store: retries, the attempt cap, permanent failures, idempotency keys. */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Action, AttemptContext, Outcome } from "../../src/actions/types.ts";
import { startWorker, type Worker } from "../../src/delivery/worker.ts";
import { createLogger } from "../../src/log.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/store.ts";
import { tempDir, waitUntil } from "../helpers/server.ts";

let store: SqliteStore;
let worker: Worker | undefined;
afterEach(async () => {
  await worker?.stop(1000);
  await store?.close();
});

/** An action that answers with the outcomes given, one per attempt, and records what it saw. */
function scripted(name: string, outcomes: Outcome[], retry = { attempts: 3, schedule: [1], jitter: 0 }) {
  const seen: AttemptContext[] = [];
  const action: Action = {
    name,
    kind: "test",
    digest: "d",
    retry,
    run: async (context) => {
      seen.push(context);
      return outcomes[Math.min(seen.length - 1, outcomes.length - 1)] as Outcome;
    },
    plan: () => ({ status: "run", details: { line: "" } }),
  };
  return { action, seen };
}

async function setup(actions: Action[], known: Action[] = actions, log = createLogger({ write: () => {} })) {
  store = openSqliteStore(bunRuntime.openDatabase(join(tempDir(), "payhook.db")));
  const body = new TextEncoder().encode('{"id":"evt_1","object":"event","type":"x.y","data":{}}');
  await store.ingest(
    {
      id: "evt_1",
      type: "x.y",
      object: "event",
      livemode: false,
      account: null,
      apiVersion: null,
      created: 1,
      receivedAt: Date.now(),
      endpoint: "/w",
      body,
    },
    actions.map((a) => ({ action: a.name, digest: a.digest })),
  );
  const byName = new Map(known.map((a) => [a.name, a]));
  worker = startWorker({
    store,
    resolve: (name) => byName.get(name),
    runnable: () => ({ versions: known.map((a) => [a.name, a.digest] as const), names: [...byName.keys()] }),
    runtime: bunRuntime,
    log,
    print: () => {},
  });
}

function deliveries() {
  return store.db.prepare("SELECT action, status, attempts, last_error FROM deliveries ORDER BY action").all();
}
function attempts() {
  return store.db.prepare("SELECT attempt, status, error FROM attempts ORDER BY id").all();
}
const finished = () => deliveries().every((d) => d.status !== "pending" && d.status !== "running");

describe("worker", () => {
  test("at info level, each attempt is one line: done, or failed · retry with the next attempt's time", async () => {
    const { action } = scripted("a", [{ ok: false, retry: true, error: "boom" }, { ok: true }]);
    const lines: string[] = [];
    await setup([action], [action], createLogger({ format: "pretty", write: (line) => lines.push(line) }));
    await waitUntil(finished);
    const [failed, done] = lines.filter((l) => / action /.test(l));
    expect(failed).toMatch(
      /^\S+ WARN {2}action failed · retry event_id=evt_1 type=x\.y action=a attempt=1 error=boom next_at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    );
    expect(done).toMatch(/^\S+ INFO {2}action done event_id=evt_1 type=x\.y action=a attempt=2 ms=\d+$/);
    expect(lines.join("\n")).not.toContain("undefined");
  });

  test("a failing action is retried until it succeeds, every attempt with the same idempotency key", async () => {
    const { action, seen } = scripted("a", [
      { ok: false, retry: true, error: "boom 1" },
      { ok: false, retry: true, error: "boom 2" },
      { ok: true },
    ]);
    await setup([action]);
    await waitUntil(finished);
    expect(deliveries()).toEqual([{ action: "a", status: "done", attempts: 3, last_error: null }]);
    expect(attempts()).toEqual([
      { attempt: 1, status: "pending", error: "boom 1" },
      { attempt: 2, status: "pending", error: "boom 2" },
      { attempt: 3, status: "done", error: null },
    ]);
    expect(seen.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((c) => c.idempotencyKey))).toEqual(new Set(["evt_1:a"]));
    expect(seen[0]?.event.data).toMatchObject({ id: "evt_1", type: "x.y" });
  });

  test("after the last attempt the delivery is dead, with its last error", async () => {
    const { action, seen } = scripted("a", [{ ok: false, retry: true, error: "still down" }]);
    await setup([action]);
    await waitUntil(finished);
    expect(deliveries()).toEqual([{ action: "a", status: "dead", attempts: 3, last_error: "still down" }]);
    expect(seen).toHaveLength(3);
  });

  test("a permanent failure is not retried; dead: true ends it at once", async () => {
    const failed = scripted("failed", [{ ok: false, retry: false, error: "bad request" }]);
    const gone = scripted("gone", [{ ok: false, retry: false, dead: true, error: "410" }]);
    await setup([failed.action, gone.action]);
    await waitUntil(finished);
    expect(deliveries()).toEqual([
      { action: "failed", status: "failed", attempts: 1, last_error: "bad request" },
      { action: "gone", status: "dead", attempts: 1, last_error: "410" },
    ]);
  });

  test("an action that throws is retried like a transient failure", async () => {
    const action: Action = {
      ...scripted("a", []).action,
      run: async () => {
        throw new Error("unexpected");
      },
    };
    await setup([action]);
    await waitUntil(finished);
    expect(deliveries()[0]).toMatchObject({ status: "dead", attempts: 3 });
    expect(String(attempts()[0]?.error)).toContain("unexpected");
  });

  test("a delivery whose action is gone from the config stays pending, no attempt used, and the worker does not spin on it", async () => {
    const { action } = scripted("removed", [{ ok: true }]);
    const kept = scripted("kept", [{ ok: true }]);
    await setup([action, kept.action], [kept.action]);
    await waitUntil(() => deliveries().some((d) => d.action === "kept" && d.status === "done"));
    let claims = 0;
    const claim = store.claim.bind(store);
    store.claim = (...args) => {
      claims++;
      return claim(...args);
    };
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(deliveries()).toEqual([
      { action: "kept", status: "done", attempts: 1, last_error: null },
      { action: "removed", status: "pending", attempts: 0, last_error: null },
    ]);
    // Its due time is passed, but nothing this worker can run is due: it waits for the next poll, not a busy loop.
    expect(claims).toBeLessThan(3);
  });
});

describe("worker hand-off at stop", () => {
  test("a claim handed over as stop() begins is not run: settled() resolves once it is back in the queue, its attempt given back", async () => {
    const { action, seen } = scripted("a", [{ ok: true }]);
    await setup([], [action]);
    expect(worker?.reserve("a", "d")).toBe(true);
    const body = new TextEncoder().encode('{"id":"evt_2","object":"event","type":"x.y","data":{}}');
    const event = {
      id: "evt_2",
      type: "x.y",
      object: "event" as const,
      livemode: false,
      account: null,
      apiVersion: null,
    };
    const stored = await store.ingest({ ...event, created: 2, receivedAt: Date.now(), endpoint: "/w", body }, [
      { action: "a", digest: "d", claimed: true },
    ]);
    const [claim] = stored.claims;
    if (!claim) throw new Error("the delivery was not stored claimed");
    expect(deliveries()).toEqual([{ action: "a", status: "running", attempts: 1, last_error: null }]);
    // The request that stored it is answered as the listener stops: the hand-off comes within stop().
    const stopping = worker?.stop(1000);
    worker?.run({ ...claim, eventId: "evt_2", eventType: "x.y", action: "a", digest: "d", attempt: 1, body });
    await stopping;
    await worker?.settled();
    expect(deliveries()).toEqual([{ action: "a", status: "pending", attempts: 0, last_error: null }]);
    expect(seen).toHaveLength(0);
  });
});

describe("worker while the store is down", () => {
  test("a claim that keeps failing is logged once, then summarised every 30 s with the count, and once when it works again", async () => {
    const { action, seen } = scripted("a", [{ ok: true }]);
    await setup([action]);
    await worker?.stop(1000);
    // The same store, its claim failing until `down` is cleared; a clock the test moves; every log line kept.
    let down = true;
    let clock = Date.now();
    const lines: { level: string; msg: string; suppressed?: number; failures?: number; what?: string }[] = [];
    const failing = Object.create(store, {
      claim: {
        value: (...args: Parameters<SqliteStore["claim"]>) =>
          down ? Promise.reject(new Error("connection refused")) : store.claim(...args),
      },
    }) as SqliteStore;
    worker = startWorker({
      store: failing,
      resolve: () => action,
      runtime: bunRuntime,
      log: createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) }),
      print: () => {},
      now: () => clock,
    });
    const claimErrors = () => lines.filter((l) => l.msg.startsWith("could not claim deliveries"));
    await waitUntil(() => claimErrors().length === 1);
    // Each wake() is one more failed claim (the worker also retries on its own timer, once a second).
    for (let i = 0; i < 5; i++) worker.wake();
    clock += 30_000;
    worker.wake();
    await waitUntil(() => claimErrors().length === 2);
    const summary = claimErrors()[1];
    expect(summary?.msg).toMatch(/^could not claim deliveries \(still failing; \d+ repeats not logged\)$/);
    expect(summary?.suppressed).toBeGreaterThanOrEqual(1);
    const before = summary?.failures ?? 0;
    down = false;
    worker.wake();
    await waitUntil(() => seen.length === 1 && lines.some((l) => l.msg === "works again after failing"));
    const recovery = lines.find((l) => l.msg === "works again after failing");
    expect(recovery?.what).toBe("could not claim deliveries");
    expect(recovery?.failures).toBeGreaterThanOrEqual(before);
    expect(claimErrors()).toHaveLength(2);
  });
});
