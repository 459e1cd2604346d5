/** @module When a failed delivery is tried again: the schedule, its jitter, and the attempt cap. */

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the 2nd, 3rd, … attempt in ms; the last entry repeats when attempts outnumber it. */
  schedule: number[];
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

/**
 * The time of the next attempt after `attempt` failed, or null when no attempt is left.
 * `notBefore` (from a Retry-After) is a lower bound.
 */
export function nextAttemptAt(
  policy: RetryPolicy,
  attempt: number,
  now: number,
  notBefore = 0,
  random: () => number = Math.random,
): number | null {
  if (attempt >= policy.attempts) return null;
  const base = policy.schedule[Math.min(attempt - 1, policy.schedule.length - 1)] ?? 0;
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.max(now + Math.round(base * factor), notBefore);
}
