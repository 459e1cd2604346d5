/** The gate with a store that only answers its reads: what it says in the log when pauses and breakers change. */
import { afterEach, describe, expect, test } from "bun:test";
import { createGate, type Gate, REFRESH_MS } from "../../../src/delivery/control.ts";
import type { ActionControl, Store } from "../../../src/store/types.ts";
import { action, keptLog } from "./parts.ts";

const T0 = Date.parse("2030-01-02T03:04:05Z");
const gates: Gate[] = [];
afterEach(() => {
  for (const g of gates.splice(0)) g.stop();
});

/** A gate over `rows` (changed by the test), its clock (moved by the test) and its log lines. */
function gateOver(rows: ActionControl[]) {
  const clock = { now: T0 };
  const store = { controls: async () => rows.map((r) => ({ ...r })), takeProbe: async () => false } as unknown as Store;
  const { log, lines } = keptLog();
  const gate = createGate({
    store,
    log,
    action: (name) => action({ name, breaker: { failures: 3, probeMs: 60_000 } }),
    now: () => clock.now,
  });
  gates.push(gate);
  /** Reads the store again (its view may be REFRESH_MS old) and resolves the lines said since the last call. */
  let said = 0;
  const read = async () => {
    clock.now += REFRESH_MS;
    await gate.held();
    const fresh = lines.slice(said).filter((l) => !l.msg.startsWith("breaker open: trying"));
    said = lines.length;
    return fresh;
  };
  return { read };
}

const control = (over: Partial<ActionControl>): ActionControl => ({
  action: "crm",
  paused: null,
  failures: 0,
  breaker: null,
  ...over,
});

describe("the gate says what changed", () => {
  test("a pause once when first seen (with who, why and since when), a resume once when it is gone", async () => {
    const rows = [control({ paused: { at: T0 - 60_000, by: "ana (command line)", reason: "crm down" } })];
    const { read } = gateOver(rows);
    expect(await read()).toEqual([
      expect.objectContaining({
        level: "info",
        msg: "action paused",
        action: "crm",
        by: "ana (command line)",
        reason: "crm down",
        since: "2030-01-02T03:03:05.000Z",
      }),
    ]);
    expect(await read()).toEqual([]);
    rows[0] = control({});
    expect(await read()).toEqual([expect.objectContaining({ level: "info", msg: "action resumed", action: "crm" })]);
    expect(await read()).toEqual([]);
  });

  test("a breaker another instance opened, then closed", async () => {
    const rows: ActionControl[] = [];
    const { read } = gateOver(rows);
    expect(await read()).toEqual([]);
    rows.push(control({ failures: 3, breaker: { openedAt: T0, probeAt: T0 + 60_000 } }));
    const [opened, ...more] = await read();
    expect(opened?.msg).toStartWith("breaker opened");
    expect(opened).toMatchObject({ level: "warn", action: "crm", failures: 3 });
    expect(more).toEqual([]);
    expect(await read()).toEqual([]);
    rows.length = 0;
    const [closed, ...rest] = await read();
    expect(closed?.msg).toStartWith("breaker closed");
    expect(closed).toMatchObject({ level: "info", action: "crm" });
    expect(rest).toEqual([]);
  });
});
