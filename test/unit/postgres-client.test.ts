/** The PostgreSQL client's reconnect delay: short and bounded, so a database that is back is used at once. */
import { expect, test } from "bun:test";
import { isLateSocketError, reconnectDelay } from "../../src/store/postgres/client.ts";

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

test("only a socket's own errors are dropped when nobody handles them; anything else still ends the process", () => {
  const socket = (code: string, syscall?: string) => Object.assign(new Error(code), { code, syscall });
  expect(isLateSocketError(socket("ECONNRESET", "read"))).toBe(true);
  expect(isLateSocketError(socket("EPIPE", "write"))).toBe(true);
  expect(isLateSocketError(socket("ECONNREFUSED", "connect"))).toBe(true);
  // A driver error of the same name without a syscall is the client's own, and a bug if unhandled.
  expect(isLateSocketError(socket("ECONNRESET"))).toBe(false);
  expect(isLateSocketError(socket("ENOENT", "open"))).toBe(false);
  expect(isLateSocketError(new Error("boom"))).toBe(false);
  expect(isLateSocketError(undefined)).toBe(false);
  expect(isLateSocketError("ECONNRESET")).toBe(false);
});
