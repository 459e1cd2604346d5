/**
 * One attempt without a store: whether the action runs (a stale event, an action gone from the config, an
 * attempt past the cap), a thin event's fetch from Stripe, and the attempt the outcome becomes.
 */
import { describe, expect, test } from "bun:test";
import type { ActionEvent } from "../../../src/actions/types.ts";
import { decide, executor, fetchStep, settle } from "../../../src/delivery/execute.ts";
import { bunRuntime } from "../../../src/runtime/bun.ts";
import { StripeApiError } from "../../../src/stripe/api.ts";
import { action, claimed, keptLog } from "./parts.ts";

const skipStale = { keyText: "{{id}}", key: { render: () => "k" } as never, stale: "skip" as const };
const newer = { eventId: "evt_newer", created: 2 };

describe("decide", () => {
  test("a stale event under stale: skip is done unrun, with a note naming the newer event", () => {
    const decision = decide(claimed(1, { newer }), action({ order: skipStale }));
    expect(decision).toEqual({ outcome: { ok: true, output: expect.stringContaining("evt_newer") }, skipped: "stale" });
  });

  test("a replayed stale event runs, its output prefixed with a note; stale: run ignores newer events", () => {
    const replayed = decide(claimed(1, { newer, replayed: true }), action({ order: skipStale }));
    expect(replayed).toMatchObject({ run: { name: "a" }, note: expect.stringContaining("replayed") });
    const run = decide(claimed(1, { newer }), action({ order: { ...skipStale, stale: "run" } }));
    expect(run).toEqual({ run: expect.objectContaining({ name: "a" }) });
  });

  test("a delivery whose action is gone from the config fails without retrying", () => {
    expect(decide(claimed(1), undefined)).toEqual({
      outcome: { ok: false, retry: false, error: 'the action "a" is no longer in the config' },
    });
  });

  test("an attempt past the cap (every earlier one died with payhook) is dead, not run again", () => {
    expect(decide(claimed(1, { attempt: 3 }), action())).toEqual({ run: expect.anything() });
    const decision = decide(claimed(1, { attempt: 4 }), action());
    expect(decision).toMatchObject({ outcome: { ok: false, retry: false, dead: true } });
    expect(JSON.stringify(decision)).toContain("its 3 attempts never finished");
  });
});

describe("fetchStep", () => {
  const thinEvent: ActionEvent = {
    id: "evt_1",
    type: "v1.x",
    raw: new Uint8Array(),
    data: { object: "v2.core.event" },
  };
  const fetching = action({ fetch: ["related_object"] });

  test("only thin events of actions with fetch: are fetched", async () => {
    const snapshot = { ...thinEvent, data: { object: "event" } };
    expect(await fetchStep(fetching, snapshot, undefined)).toEqual({ event: snapshot });
    expect(await fetchStep(action(), thinEvent, undefined)).toEqual({ event: thinEvent });
  });

  test("without stripe.api_key the attempt fails, not retried", async () => {
    expect(await fetchStep(fetching, thinEvent, undefined)).toMatchObject({
      outcome: { ok: false, retry: false, error: expect.stringContaining("no stripe.api_key") },
    });
  });

  test("what was fetched joins the event and its bytes, and is kept as JSON for the attempt", async () => {
    const thin = { fetch: async () => ({ related_object: { id: "in_1" } }) };
    const step = await fetchStep(fetching, thinEvent, thin);
    if (!("event" in step)) throw new Error("the fetch failed");
    expect(step.fetched).toBe('{"related_object":{"id":"in_1"}}');
    expect(step.event.data.fetched).toEqual({ related_object: { id: "in_1" } });
    expect(JSON.parse(new TextDecoder().decode(step.event.raw)).fetched).toEqual({ related_object: { id: "in_1" } });
  });

  test.each([
    [
      "not retried",
      "Stripe says trying again cannot help",
      new StripeApiError("not_found", "no such", 404, false),
      false,
    ],
    ["retried", "Stripe may answer later", new StripeApiError("rate_limited", "too many requests", 429, true), true],
    ["retried", "anything else went wrong", new Error("socket hang up"), true],
  ])("a failed fetch fails the attempt, %s when %s", async (_, _when, error, retry) => {
    const thin = { fetch: () => Promise.reject(error) };
    expect(await fetchStep(fetching, thinEvent, thin)).toMatchObject({
      outcome: { ok: false, retry, error: expect.stringContaining("fetching related_object from Stripe failed") },
    });
  });
});

describe("settle", () => {
  const at = 1_000_000;
  test("an outcome becomes done, dead, failed, or pending until the schedule's next time", () => {
    const d = claimed(7, { attempt: 1, token: 42 });
    expect(settle(d, action(), { ok: true, output: "hi" }, at, at + 5)).toEqual({
      deliveryId: 7,
      attempt: 1,
      startedAt: at,
      finishedAt: at + 5,
      output: "hi",
      token: 42,
      status: "done",
    });
    expect(settle(d, action(), { ok: false, retry: true, dead: true, error: "e" }, at, at)).toMatchObject({
      status: "dead",
    });
    expect(settle(d, action(), { ok: false, retry: false, error: "e" }, at, at)).toMatchObject({ status: "failed" });
    expect(settle(d, undefined, { ok: false, retry: true, error: "e" }, at, at)).toMatchObject({ status: "failed" });
    expect(settle(d, action(), { ok: false, retry: true, error: "e" }, at, at)).toMatchObject({
      status: "pending",
      nextAt: at + 1_000,
    });
  });

  test("a retryable failure of the last attempt is dead", () => {
    const last = claimed(7, { attempt: 3 });
    expect(settle(last, action(), { ok: false, retry: true, error: "e" }, 0, 0)).toMatchObject({ status: "dead" });
  });
});

describe("executor", () => {
  function run(overrides: Parameters<typeof action>[0]) {
    const { log, lines } = keptLog();
    const attempts: unknown[] = [];
    const execute = executor({
      resolve: () => action(overrides),
      runtime: bunRuntime,
      log,
      print: () => {},
      now: () => 5,
      onAttempt: (a) => attempts.push(a),
    });
    return { execute, lines, attempts };
  }

  test("an action that throws is a retryable failure, logged with the event id", async () => {
    const { execute, lines, attempts } = run({
      run: () => Promise.reject(new Error("boom")),
    });
    const { record } = await execute(claimed(1));
    expect(record).toMatchObject({ status: "pending", error: "the action failed unexpectedly: boom" });
    expect(lines.at(-1)).toMatchObject({ level: "warn", msg: "action failed · retry", event_id: "evt_1" });
    expect(attempts).toEqual([{ action: "a", status: "pending", durationMs: 0 }]);
  });

  test("the action sees the parsed event, its attempt and the idempotency key", async () => {
    let seen: unknown;
    const { execute } = run({
      run: async (context) => {
        seen = { id: context.event.data.id, attempt: context.attempt, key: context.idempotencyKey };
        return { ok: true };
      },
    });
    expect((await execute(claimed(1, { attempt: 2 }))).record.status).toBe("done");
    expect(seen).toEqual({ id: "evt_1", attempt: 2, key: "evt_1:a" });
  });

  test("a stored event that does not parse fails without retrying", async () => {
    const { execute } = run({});
    const { record } = await execute(claimed(1, { body: new TextEncoder().encode("{not json") }));
    expect(record).toMatchObject({
      status: "failed",
      error: expect.stringContaining("the stored event cannot be read"),
    });
  });

  test("a stale event skipped is counted as skipped and logged as such", async () => {
    const { execute, lines, attempts } = run({ order: skipStale });
    expect((await execute(claimed(1, { newer }))).record.status).toBe("done");
    expect(attempts).toEqual([{ action: "a", status: "done", durationMs: 0, skipped: "stale" }]);
    expect(lines.at(-1)).toMatchObject({ level: "info", newer: "evt_newer" });
  });
});
