/**
 * @module `rate:` and `breaker:`, which any action accepts (breaker also once at the top level for every action):
 * their schema and what they compile to. The worker applies them (src/delivery/control.ts).
 */
import { Type } from "@sinclair/typebox";
import { Duration, parseDuration } from "../utils/units.ts";

const RATE = /^([1-9][0-9]{0,5})\/(s|min)$/;

export const RateSchema = Type.String({
  pattern: RATE.source,
  description:
    "at most this many attempts of the action start in any one second (N/s) or minute (N/min), such as 20/s; up to N may start together",
});

export const BreakerSchema = Type.Object(
  {
    failures: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      description: "consecutive failed attempts that open the breaker, such as 10",
    }),
    probe: Type.String({
      ...Duration,
      description: "while open, one delivery is tried this often, such as 30s; its success closes the breaker",
    }),
  },
  {
    additionalProperties: false,
    description:
      "stops attempting an action that keeps failing: its deliveries wait (no attempt used, none goes dead) until a probe succeeds or an operator resumes it",
  },
);

/** A compiled `rate:`: at most `count` attempt starts in any window of `windowMs`. */
export interface RateLimit {
  count: number;
  windowMs: number;
  /** As written, such as "20/s". */
  text: string;
}

export function parseRate(text: string): RateLimit {
  const [, count, unit] = RATE.exec(text) ?? [];
  if (!count || !unit) throw new Error(`not a rate: ${text}`);
  return { count: Number(count), windowMs: unit === "s" ? 1_000 : 60_000, text };
}

/** A compiled `breaker:` (the store counts by it: store/types.ts BreakerSettings has the same shape). */
export interface BreakerPolicy {
  /** Consecutive failures that open the breaker. */
  failures: number;
  /** Between two probes of an open breaker, ms. */
  probeMs: number;
}

export interface BreakerFile {
  failures: number;
  probe: string;
}

export function compileBreaker(spec: BreakerFile): BreakerPolicy {
  return { failures: spec.failures, probeMs: parseDuration(spec.probe) };
}

/** The action's rate and breaker (its own, else the top level's), as Action fields. */
export function compileLimits(
  spec: { rate?: unknown; breaker?: unknown },
  fallback: BreakerFile | undefined,
): { rate?: RateLimit; breaker?: BreakerPolicy } {
  const breaker = (spec.breaker as BreakerFile | undefined) ?? fallback;
  return {
    ...(typeof spec.rate === "string" ? { rate: parseRate(spec.rate) } : {}),
    ...(breaker ? { breaker: compileBreaker(breaker) } : {}),
  };
}

/** The settings the digest leaves out: they change how fast an action runs, not what it does. */
export function withoutLimits(spec: Record<string, unknown>): Record<string, unknown> {
  const { rate: _rate, breaker: _breaker, ...rest } = spec;
  return rest;
}
