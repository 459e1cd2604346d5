/**
 * @module The old endpoint's secrets after an API-version cutover: retiring for three days while the config's
 * shadow still names the old endpoint, then refused on the accept path's rule.
 */
import { describe, expect, test } from "bun:test";
import { retiredRule, UpgradeState } from "../../src/ingest/copies.ts";
import { CUTOVER_RETIRE_MS, retirements } from "../../src/ops/rotation.ts";
import type { Upgrade } from "../../src/store/types.ts";

const CUT = Date.UTC(2026, 11, 1);
const upgrade = (cutOverAt: number | null): Upgrade => ({
  shadowPath: "/webhook/shadow",
  livePath: "/webhook",
  apiVersion: "2026-10-28.endive",
  oldEndpoint: "we_old",
  newEndpoint: "we_new",
  since: 0,
  startedAt: CUT - 60_000,
  cutOverAt,
});
const both = [{ path: "/webhook" }, { path: "/webhook/shadow", shadowOf: "/webhook" }];

describe("a cutover's retirement", () => {
  test("ends three days after the cutover, and only while the shadow names the old endpoint", () => {
    expect(retirements(both, [upgrade(CUT)])).toEqual([
      { endpoint: "/webhook", shadow: "/webhook/shadow", until: CUT + CUTOVER_RETIRE_MS },
    ]);
    expect(CUTOVER_RETIRE_MS).toBe(3 * 86_400_000);
    expect(retirements(both, [upgrade(null)])).toEqual([]);
    // shadow_of removed: the old path is an ordinary endpoint again; removed itself: nothing left to retire.
    expect(retirements([{ path: "/webhook" }, { path: "/webhook/shadow" }], [upgrade(CUT)])).toEqual([]);
    expect(retirements([{ path: "/webhook/shadow", shadowOf: "/other" }], [upgrade(CUT)])).toEqual([]);
  });

  test("the accept path refuses the old endpoint from the end on, and never the shadow", () => {
    const endpoints = both.map((e) => ({ ...e, signing: [], tolerance: 300, maxBody: 1 }) as never);
    const state = new UpgradeState();
    state.set([upgrade(CUT)]);
    const rule = retiredRule(endpoints, state);
    const end = CUT + CUTOVER_RETIRE_MS;
    expect(rule?.("/webhook", end - 1)).toBeUndefined();
    expect(rule?.("/webhook", end)).toMatchObject({ endpoint: "/webhook", until: end });
    expect(rule?.("/webhook/shadow", end + 1)).toBeUndefined();
    expect(retiredRule([{ path: "/webhook" } as never], state)).toBeUndefined();
  });
});
