/** @module Unix times as text, for output and pages, whatever a stored event claims. */

/**
 * A time in unix ms as ISO 8601 (UTC). A time beyond what a date can hold (an event's `created` far in the future,
 * stored before payhook checked it) is shown as its number of ms, rather than throwing where it is printed.
 */
export function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms (beyond the date range)` : date.toISOString();
}
