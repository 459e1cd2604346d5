/** The heartbeat against a store double: held leases renewed, a lost lease said once and no longer renewed. */
import { describe, expect, test } from "bun:test";
import { startHeartbeat } from "../../../src/delivery/heartbeat.ts";
import { repeatsOnce } from "../../../src/delivery/repeats.ts";
import type { HeldClaim } from "../../../src/store/types.ts";
import { claimed, keptLog } from "./parts.ts";

function setup(keep: (claims: readonly HeldClaim[]) => number[] | Promise<number[]>) {
  const renewed: HeldClaim[][] = [];
  const { log, lines } = keptLog();
  const store = {
    renew: async (claims: readonly HeldClaim[]) => {
      renewed.push([...claims]);
      return keep(claims);
    },
  };
  const heartbeat = startHeartbeat({ store, log, now: Date.now, repeats: repeatsOnce(log) });
  return { heartbeat, renewed, lines };
}

describe("heartbeat", () => {
  test("renews every held claim with its token, and nothing once none is held", async () => {
    const { heartbeat, renewed } = setup((claims) => claims.map((c) => c.id));
    await heartbeat.renew();
    expect(renewed).toEqual([]);
    heartbeat.hold(claimed(1, { token: 10 }));
    heartbeat.hold(claimed(2, { token: 11 }));
    await heartbeat.renew();
    heartbeat.drop(1);
    await heartbeat.renew();
    expect(renewed).toEqual([
      [
        { id: 1, token: 10 },
        { id: 2, token: 11 },
      ],
      [{ id: 2, token: 11 }],
    ]);
  });

  test("a lease lost to another instance is said once, with the event, and no longer renewed", async () => {
    const { heartbeat, renewed, lines } = setup(() => [1]);
    heartbeat.hold(claimed(1, { token: 10 }));
    heartbeat.hold(claimed(2, { token: 11, attempt: 3 }));
    await heartbeat.renew();
    await heartbeat.renew();
    expect(lines).toEqual([
      expect.objectContaining({ level: "warn", msg: expect.stringContaining("lost the lease"), event_id: "evt_2" }),
    ]);
    expect(lines[0]).toMatchObject({ action: "a", attempt: 3 });
    expect(renewed[1]).toEqual([{ id: 1, token: 10 }]);
  });

  test("a renewal that fails keeps every claim held and is logged once while it keeps failing", async () => {
    let down = true;
    const { heartbeat, renewed, lines } = setup((claims) =>
      down ? Promise.reject(new Error("connection refused")) : claims.map((c) => c.id),
    );
    heartbeat.hold(claimed(1, { token: 10 }));
    await heartbeat.renew();
    await heartbeat.renew();
    down = false;
    await heartbeat.renew();
    expect(renewed).toHaveLength(3);
    expect(renewed[2]).toEqual([{ id: 1, token: 10 }]);
    expect(lines.map((l) => l.msg)).toEqual([
      "could not renew the lease of running deliveries; trying again",
      "works again after failing",
    ]);
  });
});
