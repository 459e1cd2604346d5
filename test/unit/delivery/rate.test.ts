/** The rate limiter's holds asked for by the target: Retry-After, and a 429 or 503 without one. */
import { describe, expect, test } from "bun:test";
import type { Outcome } from "../../../src/actions/types.ts";
import { FIRST_BACKOFF_MS, MAX_BACKOFF_MS, RateLimiter } from "../../../src/delivery/rate.ts";

const overloaded: Outcome = { ok: false, retry: true, error: "answered 429", slowDown: true };
const T = 1_000_000;

describe("a target that answers 429 or 503 without Retry-After", () => {
  test("holds the action 1 s, then twice as long per consecutive answer, up to 60 s; only that action", () => {
    const rates = new RateLimiter();
    let now = T;
    const holds: number[] = [];
    for (let i = 0; i < 9; i++) {
      const ms = rates.answered("crm", overloaded, now) as number;
      holds.push(ms);
      expect(rates.take("crm", undefined, now + ms - 1)).toBe(false);
      expect([...rates.full(now + ms - 1)]).toEqual(["crm"]);
      expect([...rates.nextFree()]).toEqual([now + ms]);
      expect(rates.take("other", undefined, now)).toBe(true);
      now += ms;
      expect(rates.take("crm", undefined, now)).toBe(true);
    }
    expect(holds).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(holds[0]).toBe(FIRST_BACKOFF_MS);
    expect(Math.max(...holds)).toBe(MAX_BACKOFF_MS);
  });

  test("answers that come while a hold lasts (attempts already under way) do not lengthen it", () => {
    const rates = new RateLimiter();
    expect(rates.answered("crm", overloaded, T)).toBe(1_000);
    expect(rates.answered("crm", overloaded, T + 10)).toBeUndefined();
    expect(rates.answered("crm", overloaded, T + 999)).toBeUndefined();
    expect([...rates.nextFree()]).toEqual([T + 1_000]);
    expect(rates.answered("crm", overloaded, T + 1_000)).toBe(2_000);
  });

  test("a success starts over at 1 s; other failures neither hold nor start over", () => {
    const rates = new RateLimiter();
    rates.answered("crm", overloaded, T);
    expect(rates.answered("crm", { ok: false, retry: true, error: "answered 500" }, T + 1_000)).toBeUndefined();
    expect(rates.take("crm", undefined, T + 1_000)).toBe(true);
    expect(rates.answered("crm", overloaded, T + 1_000)).toBe(2_000);
    expect(rates.answered("crm", { ok: true }, T + 3_000)).toBeUndefined();
    expect(rates.answered("crm", overloaded, T + 3_000)).toBe(1_000);
  });

  test("a Retry-After holds until then, and is not a hold of its own making", () => {
    const rates = new RateLimiter();
    expect(rates.answered("crm", { ...overloaded, notBefore: T + 5_000 }, T)).toBeUndefined();
    expect(rates.take("crm", undefined, T + 4_999)).toBe(false);
    expect(rates.take("crm", undefined, T + 5_000)).toBe(true);
    expect(rates.answered("crm", overloaded, T + 5_000)).toBe(1_000);
  });
});
