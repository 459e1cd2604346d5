/**
 * `order:` on an action: the config, the key, the lint, and the rule run by the worker against a real SQLite
 * store (ties, a missing key, a dead blocker, stale events skipped with their note, a replay that runs anyway).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { compileOrder, MAX_ORDER_KEY, orderKey } from "../../src/actions/order.ts";
import type { Action, AttemptContext, Outcome } from "../../src/actions/types.ts";
import { formatFindings, lintConfig } from "../../src/catalog/lint.ts";
import { parseConfig } from "../../src/config/load.ts";
import { newDelivery } from "../../src/delivery/rows.ts";
import { startWorker, type Worker } from "../../src/delivery/worker.ts";
import { ConfigError } from "../../src/errors.ts";
import { explainEvent, formatExplanation, readEvent } from "../../src/explain/plan.ts";
import { createLogger } from "../../src/log.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { openSqliteStore, type SqliteStore } from "../../src/store/sqlite/store.ts";
import { tempDir, waitUntil } from "../helpers/server.ts";

const ENDPOINT = 'endpoints: [{ path: /webhook, secrets: ["whsec_test"] }]\n';

function load(handlers: string) {
  return parseConfig(`${ENDPOINT}handlers:\n${handlers}`, { source: "payhook.yaml", env: {} });
}

function problems(handlers: string): string[] {
  try {
    load(handlers);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("order: in the config", () => {
  test("the issue's example loads; stale defaults to run", () => {
    const config = load(`  customer.subscription.*:
    - name: sync-subscription
      forward: { url: "http://127.0.0.1:3000/stripe/subscriptions" }
      order: { key: "{{data.object.id}}", stale: skip }
    - log: "{{id}}"
      order: { key: "{{data.object.customer}}" }
`);
    const [sync, log] = config.routes[0]?.actions ?? [];
    expect(sync?.order).toMatchObject({ keyText: "{{data.object.id}}", stale: "skip" });
    expect(log?.order?.stale).toBe("run");
  });

  test.each([
    ["an unknown stale value", "order: { key: '{{data.object.id}}', stale: sometimes }", "[0].order.stale"],
    ["a key without a placeholder", "order: { key: sub_1 }", "has no {{path}} placeholder"],
    ["a placeholder that is not a path", "order: { key: '{{data.object[0]}}' }", "is not a path"],
    ["an unknown key", "order: { key: '{{id}}', by: created }", 'unknown key "by"'],
    ["no key", "order: { stale: skip }", "[0].order.key: missing"],
  ])("%s is a config error naming order", (_, order, expected) => {
    const found = problems(`  invoice.paid:\n    - log: x\n      ${order}\n`);
    expect(found.join("\n")).toContain(expected);
    expect(found.join("\n")).toContain('handlers."invoice.paid"[0].order');
  });
});

test("a PostgreSQL store takes order: (its claim applies the rule across instances)", () => {
  const text = `store: postgres://payhook@127.0.0.1:5432/payhook\n${ENDPOINT}handlers:\n  invoice.paid:\n    - { name: sync, log: a, order: { key: "{{data.object.id}}" } }\n`;
  const config = parseConfig(text, { source: "payhook.yaml", env: {} });
  expect(config.actions.get("sync")?.order?.keyText).toBe("{{data.object.id}}");
});

describe("the order key", () => {
  const rule = (key: string) => {
    const compiled = compileOrder({ key });
    if (!("rule" in compiled) || !compiled.rule) throw new Error("no rule");
    return compiled.rule;
  };

  test("renders from the event; a missing or empty path means unordered", () => {
    const event = { data: { object: { id: "sub_1", customer: "", nested: { a: 1 } } } };
    expect(orderKey(rule("{{data.object.id}}"), event)).toBe("sub_1");
    expect(orderKey(rule("{{data.object.missing}}"), event)).toBeUndefined();
    expect(orderKey(rule("{{data.object.customer}}"), event)).toBeUndefined();
    expect(orderKey(rule("{{data.object.nested}}"), event)).toBe('{"a":1}');
    expect(orderKey(rule("acct:{{account}}/{{data.object.id}}"), event)).toBe("acct:/sub_1");
    expect(orderKey(undefined, event)).toBeUndefined();
  });

  test(`is cut at ${MAX_ORDER_KEY} characters`, () => {
    expect(orderKey(rule("{{id}}"), { id: "x".repeat(1000) })).toHaveLength(MAX_ORDER_KEY);
  });

  test("the delivery row carries it only when the action is ordered and the key is not empty", () => {
    const [ordered, plain] =
      load("  invoice.*:\n    - log: a\n      order: { key: '{{data.object.id}}' }\n    - log: b\n").routes[0]
        ?.actions ?? [];
    const event = { data: { object: { id: "in_1" } } };
    expect(newDelivery(ordered as Action, event)).toMatchObject({ orderKey: "in_1" });
    expect(newDelivery(ordered as Action, { data: {} })).not.toHaveProperty("orderKey");
    expect(newDelivery(plain as Action, event)).not.toHaveProperty("orderKey");
  });
});

describe("explain shows the rendered order key", () => {
  test("the key ingest would store, or null when it renders empty or the action is unordered", async () => {
    const config = load(`  invoice.paid:
    - { name: ordered, log: a, order: { key: "{{data.object.id}}" } }
    - { name: by-sub, log: b, order: { key: "{{data.object.subscription}}" } }
    - { name: plain, log: c }
`);
    const json = JSON.stringify({
      id: "evt_1",
      object: "event",
      type: "invoice.paid",
      created: 1,
      data: { object: { id: "in_1" } },
    });
    const explained = explainEvent(config, await readEvent(new TextEncoder().encode(json), "event.json"));
    expect(explained.actions.map((a) => a.order_key)).toEqual(["in_1", null, null]);
    expect(formatExplanation(explained).join("\n")).toContain('order key: "in_1"');
  });
});

describe("check: an order key that cannot exist", () => {
  const lint = (handlers: string) => lintConfig(load(handlers)).map((f) => `${f.at}: ${f.message}`);

  test("data.object paths on snapshot events pass", () => {
    expect(lint("  customer.subscription.*:\n    - log: x\n      order: { key: '{{data.object.id}}' }\n")).toEqual([]);
    expect(lint("  '*':\n    - log: x\n      order: { key: '{{related_object.id}}' }\n")).toEqual([]);
  });

  test("a path outside the event, data.object on thin events, and a bad data field warn", () => {
    const text = `  invoice.paid:
    - log: a
      order: { key: "{{object.id}}" }
    - log: b
      order: { key: "{{data.objects.id}}" }
  v1.billing.meter.*:
    - log: c
      order: { key: "{{data.object.id}}" }
`;
    const found = lint(text);
    expect(found).toEqual([
      expect.stringContaining(
        'handlers."invoice.paid"[0].order.key: {{object.id}} is not a field: object is a single value',
      ),
      expect.stringContaining('handlers."invoice.paid"[1].order.key: {{data.objects.id}} is not a field'),
      expect.stringContaining('handlers."v1.billing.meter.*"[0].order.key: {{data.object.id}} is not in thin events'),
    ]);
    expect(found[0]).toContain("deliveries run unordered");
    const lines = formatFindings(lintConfig(load(text)), "payhook.yaml", `${ENDPOINT}handlers:\n${text}`);
    expect(lines[0]).toMatch(/^payhook\.yaml: warning: .* \(line 5\)$/);
  });
});

// The rule as the worker applies it, on a real store.
let store: SqliteStore;
let worker: Worker | undefined;
afterEach(async () => {
  await worker?.stop(1000);
  await store?.close();
});

interface Run {
  event: string;
  key: string;
  start: number;
  end?: number;
}

/** An ordered action that records when each event starts and ends, and answers with `outcome(eventId)`. */
function recording(stale: "run" | "skip", outcome: (id: string, attempt: number) => Outcome = () => ({ ok: true })) {
  const runs: Run[] = [];
  let clock = 0;
  const compiled = compileOrder({ key: "{{data.object.id}}", stale });
  const action: Action = {
    name: "sync",
    kind: "test",
    digest: "d",
    retry: { attempts: 3, schedule: [1], jitter: 0 },
    ...("rule" in compiled && compiled.rule ? { order: compiled.rule } : {}),
    plan: () => ({ status: "run", details: { line: "" } }),
    run: async (context: AttemptContext) => {
      const data = context.event.data as { data: { object: { id?: string } } };
      const run: Run = { event: context.event.id, key: String(data.data.object.id), start: clock++ };
      runs.push(run);
      await new Promise((resolve) => setTimeout(resolve, 2));
      run.end = clock++;
      return outcome(context.event.id, context.attempt);
    },
  };
  return { action, runs };
}

async function ingest(action: Action, id: string, created: number, object: Record<string, unknown>) {
  const payload = { id, object: "event", type: "customer.subscription.updated", created, data: { object } };
  await store.ingest(
    {
      id,
      type: "customer.subscription.updated",
      object: "event",
      livemode: false,
      account: null,
      apiVersion: null,
      created,
      receivedAt: Date.now(),
      endpoint: "/w",
      body: new TextEncoder().encode(JSON.stringify(payload)),
    },
    [newDelivery(action, payload)],
  );
}

function run(action: Action) {
  worker = startWorker({
    store,
    resolve: () => action,
    runtime: bunRuntime,
    log: createLogger({ write: () => {} }),
    print: () => {},
  });
}

function openStore() {
  store = openSqliteStore(bunRuntime.openDatabase(join(tempDir(), "payhook.db")));
}

const finished = () =>
  store.db.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE status IN ('pending', 'running')").get()?.n === 0;

function outputs(): Record<string, string | null> {
  const rows = store.db
    .prepare("SELECT d.event_id, a.output FROM attempts a JOIN deliveries d ON d.id = a.delivery_id ORDER BY a.id")
    .all();
  return Object.fromEntries(rows.map((r) => [r.event_id as string, r.output as string | null]));
}

/** True when two runs of one key overlapped. */
function overlapped(runs: Run[]): boolean {
  return runs.some((a) =>
    runs.some((b) => a !== b && a.key === b.key && a.start < (b.end ?? 0) && b.start < (a.end ?? 0)),
  );
}

describe("the worker under order:", () => {
  test("one key runs in created order, ties in arrival order, one at a time; other keys interleave", async () => {
    openStore();
    const { action, runs } = recording("run");
    await ingest(action, "evt_c", 30, { id: "sub_1" });
    await ingest(action, "evt_tie2", 20, { id: "sub_1" });
    await ingest(action, "evt_tie1", 20, { id: "sub_1" });
    await ingest(action, "evt_a", 10, { id: "sub_1" });
    for (let i = 0; i < 5; i++) await ingest(action, `evt_other_${i}`, 5, { id: `sub_other_${i}` });
    run(action);
    await waitUntil(finished);
    expect(runs.filter((r) => r.key === "sub_1").map((r) => r.event)).toEqual([
      "evt_a",
      "evt_tie2",
      "evt_tie1",
      "evt_c",
    ]);
    expect(overlapped(runs)).toBe(false);
    // Keys are not serialised against each other: some other key started while another was running.
    expect(
      runs.some((a) => runs.some((b) => a.key !== b.key && a.start < (b.end ?? 0) && b.start < (a.end ?? 0))),
    ).toBe(true);
  });

  test("events without the key run unordered, at once", async () => {
    openStore();
    const { action, runs } = recording("run");
    for (let i = 0; i < 4; i++) await ingest(action, `evt_${i}`, 10, {});
    expect(store.db.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE order_key IS NULL").get()?.n).toBe(4);
    run(action);
    await waitUntil(finished);
    expect(runs).toHaveLength(4);
    expect(runs.some((a) => runs.some((b) => a !== b && a.start < (b.end ?? 0) && b.start < (a.end ?? 0)))).toBe(true);
  });

  test("a blocker that ends dead releases its key: the next one runs and is not stale", async () => {
    openStore();
    const { action, runs } = recording("skip", (id) =>
      id === "evt_1" ? { ok: false, retry: true, error: "down" } : { ok: true },
    );
    await ingest(action, "evt_1", 10, { id: "sub_1" });
    await ingest(action, "evt_2", 20, { id: "sub_1" });
    run(action);
    await waitUntil(finished);
    // evt_2 waited through all three attempts of evt_1 (retries included), then ran.
    expect(runs.map((r) => r.event)).toEqual(["evt_1", "evt_1", "evt_1", "evt_2"]);
    expect(store.db.prepare("SELECT event_id, status FROM deliveries ORDER BY event_id").all()).toEqual([
      { event_id: "evt_1", status: "dead" },
      { event_id: "evt_2", status: "done" },
    ]);
  });

  test("stale: skip marks an older event done with a note naming the newer one; the same second still runs", async () => {
    openStore();
    const { action, runs } = recording("skip");
    await ingest(action, "evt_paid", 20, { id: "in_1" });
    run(action);
    await waitUntil(finished);
    await ingest(action, "evt_failed", 10, { id: "in_1" });
    await ingest(action, "evt_same", 20, { id: "in_1" });
    worker?.wake();
    await waitUntil(finished);
    expect(runs.map((r) => r.event)).toEqual(["evt_paid", "evt_same"]);
    expect(outputs()).toMatchObject({ evt_failed: "skipped: stale, evt_paid created later was delivered" });
    expect(store.db.prepare("SELECT status FROM deliveries WHERE event_id = 'evt_failed'").get()?.status).toBe("done");
  });

  test("stale: run delivers the older event too, after the newer one", async () => {
    openStore();
    const { action, runs } = recording("run");
    await ingest(action, "evt_2", 20, { id: "in_1" });
    run(action);
    await waitUntil(finished);
    await ingest(action, "evt_1", 10, { id: "in_1" });
    worker?.wake();
    await waitUntil(finished);
    expect(runs.map((r) => r.event)).toEqual(["evt_2", "evt_1"]);
  });

  test("a replayed old event runs even with stale: skip, and its attempt says so", async () => {
    openStore();
    const { action, runs } = recording("skip");
    await ingest(action, "evt_1", 10, { id: "in_1" });
    await ingest(action, "evt_2", 20, { id: "in_1" });
    run(action);
    await waitUntil(finished);
    await store.requeue([{ eventId: "evt_1", action: "sync", digest: "d", orderKey: "in_1" }], Date.now());
    worker?.wake();
    await waitUntil(finished);
    expect(runs.map((r) => r.event)).toEqual(["evt_1", "evt_2", "evt_1"]);
    expect(outputs().evt_1).toBe(
      "replayed: ran although evt_2 created later was delivered (stale: skip does not apply to a replay)",
    );
  });
});
