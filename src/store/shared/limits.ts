/** @module What every store keeps at most, and writes at once. */

/** Writes (events, results) committed in one transaction at most. */
export const MAX_BATCH = 512;
/** An attempt's error and output are kept up to this many characters. */
export const MAX_TEXT = 64 * 1024;
/** A fetched Stripe object is kept whole up to this size (cut beyond it, so no longer valid JSON). */
export const MAX_FETCHED = 256 * 1024;
