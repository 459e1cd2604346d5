/** The PostgreSQL client's reconnect delay: short and bounded, so a database that is back is used at once. */
import { expect, test } from "bun:test";
import { reconnectDelay } from "../../src/store/postgres/client.ts";

test("a failing connection tries again within a second, however many times it has failed", () => {
  // The driver's default grows to 20 s after eight refusals; queries queued on that connection waited it out.
  for (const retries of [0, 1, 3, 8, 20, 1000]) {
    for (let i = 0; i < 50; i++) {
      const seconds = reconnectDelay(retries);
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThanOrEqual(1);
    }
  }
  // It still backs off: the first retry is quicker than the tenth.
  expect(reconnectDelay(0)).toBeLessThan(0.06);
  expect(reconnectDelay(10)).toBeGreaterThanOrEqual(0.5);
});
