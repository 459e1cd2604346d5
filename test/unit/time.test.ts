/** Times past the date range (an event's `created` stored before payhook checked it) print instead of throwing. */
import { describe, expect, test } from "bun:test";
import { iso } from "../../src/stripe/catchup.ts";
import { time } from "../../src/ui/format.ts";
import { isoTime } from "../../src/utils/time.ts";

describe("times past the date range", () => {
  test("isoTime, the page's time() and catch-up's iso() show the number rather than throw", () => {
    expect(isoTime(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(isoTime(9e18)).toBe("9000000000000000000 ms (beyond the date range)");
    expect(time(9e18).text).toContain("9000000000000000000 ms");
    expect(iso(9e15)).toContain("beyond the date range");
    expect(iso(1_760_000_000)).toBe("2025-10-09T08:53:20Z");
  });
});
