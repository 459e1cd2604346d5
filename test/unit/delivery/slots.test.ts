/** The worker's slots without a store: the worker's limit, an action's own limit, reservations from the accept path. */
import { describe, expect, test } from "bun:test";
import { createSlots, type Load } from "../../../src/delivery/slots.ts";

function slots(concurrency: number, limits: Record<string, number> = {}, load: Load = { running: 0, recording: 0 }) {
  return createSlots(
    concurrency,
    (name) => limits[name] ?? Number.POSITIVE_INFINITY,
    () => load,
  );
}

describe("slots", () => {
  test("a claim may take the slots neither running nor reserved", () => {
    const load = { running: 2, recording: 0 };
    const s = slots(5, {}, load);
    expect(s.free()).toBe(3);
    expect(s.reserve("a", "d")).toBe(true);
    expect(s.free()).toBe(2);
    s.unreserve();
    expect(s.free()).toBe(3);
  });

  test("no room once every slot is running or reserved, nor while more results wait than there are slots", () => {
    const load = { running: 1, recording: 0 };
    const s = slots(2, {}, load);
    expect(s.hasRoom()).toBe(true);
    expect(s.reserve("a", "d")).toBe(true);
    expect(s.hasRoom()).toBe(false);
    expect(s.reserve("b", "d")).toBe(false);
    s.unreserve();
    load.recording = 2;
    expect(s.hasRoom()).toBe(true);
    load.recording = 3;
    expect(s.hasRoom()).toBe(false);
  });

  test("an action at its own limit takes no more, is skipped by the claim, and has room again once one ends", () => {
    const s = slots(10, { a: 2 });
    expect(s.take("a", "d")).toBe(true);
    expect(s.atLimit()).toEqual([]);
    expect(s.take("a", "d")).toBe(true);
    expect(s.atLimit()).toEqual(["a"]);
    expect(s.take("a", "d")).toBe(false);
    expect(s.take("b", "d")).toBe(true);
    s.giveBack("a");
    expect(s.atLimit()).toEqual([]);
    expect(s.take("a", "d")).toBe(true);
  });

  test("a reservation refused for the action's limit holds nothing: the free count is unchanged", () => {
    const s = slots(10, { a: 1 });
    expect(s.reserve("a", "d")).toBe(true);
    expect(s.reserve("a", "d")).toBe(false);
    expect(s.free()).toBe(9);
  });

  test("an action's limit is read at each take, so a reload that raises it applies", () => {
    const limits: Record<string, number> = { a: 1 };
    const s = createSlots(
      10,
      (name) => limits[name] ?? Number.POSITIVE_INFINITY,
      () => ({ running: 0, recording: 0 }),
    );
    expect(s.take("a", "d")).toBe(true);
    expect(s.take("a", "d")).toBe(false);
    limits.a = 2;
    expect(s.take("a", "d")).toBe(true);
  });
});
