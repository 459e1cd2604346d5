/** Recording results against a store double: tried again while refused, a result for a lost claim said once. */
import { describe, expect, test } from "bun:test";
import { createCompleter } from "../../../src/delivery/complete.ts";
import type { AttemptRecord } from "../../../src/store/types.ts";
import { keptLog } from "./parts.ts";

const record: AttemptRecord = { deliveryId: 1, attempt: 1, startedAt: 0, finishedAt: 1, status: "done" };
const fields = { event_id: "evt_1", action: "a" };

function setup(answers: (boolean | Error)[], stopped = () => false) {
  const { log, lines } = keptLog();
  let tries = 0;
  const store = {
    finish: async () => {
      const answer = answers[Math.min(tries++, answers.length - 1)];
      if (answer instanceof Error) throw answer;
      return answer ?? true;
    },
  };
  const completer = createCompleter({ store, log, stopped, retryMs: 1 });
  return { completer, lines, tries: () => tries };
}

describe("completer", () => {
  test("a result is recorded; done runs after, and it is no longer counted", async () => {
    const { completer, tries } = setup([true]);
    let done = false;
    completer.add({ record, fields }, () => {
      done = true;
    });
    expect(completer.size()).toBe(1);
    await completer.settled();
    expect({ done, tries: tries(), size: completer.size() }).toEqual({ done: true, tries: 1, size: 0 });
  });

  test("a result the store refuses is tried again until taken: one error line, one line when it is", async () => {
    const full = new Error("database or disk is full");
    const { completer, lines, tries } = setup([full, full, true]);
    completer.add({ record, fields }, () => {});
    await completer.settled();
    expect(tries()).toBe(3);
    expect(lines).toEqual([
      expect.objectContaining({ level: "error", event_id: "evt_1", error: "database or disk is full" }),
      expect.objectContaining({ level: "info", msg: "attempt recorded once the store took writes again", tries: 3 }),
    ]);
  });

  test("once the worker stops, a refused result is left for the next start", async () => {
    let stopped = false;
    const { completer, tries } = setup([new Error("locked")], () => stopped);
    let done = false;
    completer.add({ record, fields }, () => {
      done = true;
    });
    stopped = true;
    await completer.settled();
    expect({ done, tries: tries() }).toEqual({ done: true, tries: 1 });
  });

  test("a result for a claim this instance no longer holds changes nothing and is said", async () => {
    const { completer, lines } = setup([false]);
    completer.add({ record, fields }, () => {});
    await completer.settled();
    expect(lines).toEqual([
      expect.objectContaining({ level: "warn", msg: expect.stringContaining("no longer holds"), status: "done" }),
    ]);
  });
});
