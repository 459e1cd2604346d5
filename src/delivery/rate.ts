/**
 * @module `rate: N/s` (or N/min) per action, on this instance: at most N attempts start in any window of a second
 * (or minute); up to N may start together, then the next waits until the oldest of them is a window old. A
 * Retry-After from the action's target holds every attempt of that action (only that one) until then; a 429 or
 * 503 without one holds it for a while that doubles as long as the target keeps answering so.
 */
import type { RateLimit } from "../actions/limits.ts";
import type { Outcome } from "../actions/types.ts";

/** The first hold after a 429 or 503 without Retry-After; each consecutive one doubles it, up to MAX_BACKOFF_MS. */
export const FIRST_BACKOFF_MS = 1_000;
export const MAX_BACKOFF_MS = 60_000;

/**
 * Added to each window: an attempt is counted when it is admitted, a little before its request leaves (a claim's
 * commit, the event's own commit when claimed at ingest), so starts a full window apart could otherwise reach the
 * target a little closer than that.
 */
const MARGIN_MS = 100;

export class RateLimiter {
  /** Start times within the last window, oldest first, per action with a rate. */
  private readonly starts = new Map<string, { limit: RateLimit; times: number[] }>();
  /** No attempt of the action before this time (unix ms): its target asked for a pause with Retry-After. */
  private readonly slowed = new Map<string, number>();
  /** Per action: the last hold a 429 or 503 without Retry-After started; a success forgets it. */
  private readonly backoff = new Map<string, { ms: number; until: number }>();

  /** Takes a start for `name` at `now`; false when its window is full or it is slowed. */
  take(name: string, limit: RateLimit | undefined, now: number): boolean {
    const until = this.slowed.get(name);
    if (until !== undefined) {
      if (until > now) return false;
      this.slowed.delete(name);
    }
    if (!limit) {
      this.starts.delete(name);
      return true;
    }
    const entry = this.window(name, limit, now);
    if (entry.times.length >= limit.count) return false;
    entry.times.push(now);
    return true;
  }

  /**
   * Slows the action as its target's answer asks: until its Retry-After; for a 429 or 503 without one, for
   * FIRST_BACKOFF_MS, twice the last hold when the last one has ended (answers that come while a hold lasts are
   * the same overload, from attempts already under way), up to MAX_BACKOFF_MS. A success starts over.
   * Resolves how long a hold it just started without Retry-After lasts, else undefined.
   */
  answered(name: string, outcome: Outcome, now: number): number | undefined {
    if (outcome.ok) {
      this.backoff.delete(name);
      return undefined;
    }
    if (outcome.notBefore !== undefined) this.slow(name, outcome.notBefore);
    if (outcome.notBefore !== undefined || !outcome.slowDown) return undefined;
    const last = this.backoff.get(name);
    if (last && last.until > now) return undefined;
    const ms = last ? Math.min(last.ms * 2, MAX_BACKOFF_MS) : FIRST_BACKOFF_MS;
    this.backoff.set(name, { ms, until: now + ms });
    this.slow(name, now + ms);
    return ms;
  }

  /** Holds the action until `until`. */
  slow(name: string, until: number): void {
    this.slowed.set(name, Math.max(until, this.slowed.get(name) ?? 0));
  }

  /** Actions that cannot start an attempt at `now`. */
  *full(now: number): Iterable<string> {
    for (const [name, until] of this.slowed) if (until > now) yield name;
    for (const [name, entry] of this.starts) {
      if (this.window(name, entry.limit, now).times.length >= entry.limit.count) yield name;
    }
  }

  /** When each held action may start again. */
  *nextFree(): Iterable<number> {
    for (const until of this.slowed.values()) yield until;
    for (const { limit, times } of this.starts.values()) {
      if (times.length >= limit.count) yield (times[0] as number) + limit.windowMs + MARGIN_MS;
    }
  }

  private window(name: string, limit: RateLimit, now: number): { limit: RateLimit; times: number[] } {
    let entry = this.starts.get(name);
    if (!entry || entry.limit.text !== limit.text) {
      entry = { limit, times: [] };
      this.starts.set(name, entry);
    }
    while (entry.times.length > 0 && (entry.times[0] as number) <= now - limit.windowMs - MARGIN_MS)
      entry.times.shift();
    return entry;
  }
}
